using Pipeline.Acquisition;
using Pipeline.Parameters;

namespace Pipeline.Augmentation;

/// <summary>
/// The <c>augment</c> section: the pipeline as data (an ordered list of operations), how many images to make from
/// which split, and whether Train adds them to the training set. The default is the reference's Augmentor pipeline:
/// <c>rotate(probability=0.9, max_left_rotation=25, max_right_rotation=25)</c>.
/// </summary>
[ParameterSection("augment")]
public sealed record AugmentParameters : IValidatedParameters
{
    /// <summary>With the output index and the operation's position, the only source of randomness.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>How many augmented images to make (Augmentor's sample(n)).</summary>
    public int Samples { get; init; } = 10000;
    /// <summary>The split the originals come from.</summary>
    public string Source { get; init; } = "train";
    /// <summary>Whether Train reads the augmented images together with the training split.</summary>
    public bool JoinTraining { get; init; } = true;
    /// <summary>Also write every augmented image as a PNG file (Augmentor's output/ folder) in Export's layout.</summary>
    public bool Png { get; init; }
    /// <summary>How many originals the preview sheet shows, each beside its augmented version.</summary>
    public int PreviewImages { get; init; } = 40;
    /// <summary>Worker threads; 0 = one per core. The bytes written do not depend on it.</summary>
    public int Threads { get; init; }
    /// <summary>
    /// The value geometry fills in, in every channel, where it brings in area from outside the image (MNIST's
    /// background is 0).
    /// </summary>
    public int Background { get; init; }
    public IReadOnlyList<AugmentOperation> Operations { get; init; } =
        [new Rotate { Probability = 0.9, MaxLeftRotation = 25, MaxRightRotation = 25 }];

    public IEnumerable<string> Validate()
    {
        if (Samples is < 1 or > 2_000_000) yield return $"samples must be between 1 and 2000000, got {Samples} (to train without augmented images: augment.join_training=false)";
        if (!VerifiedDataset.SplitOrder.Contains(Source))
            yield return $"source: unknown split '{Source}' (splits: {string.Join(", ", VerifiedDataset.SplitOrder)})";
        if (PreviewImages is < 1 or > 500) yield return $"preview_images must be between 1 and 500, got {PreviewImages}";
        if (Threads < 0) yield return $"threads must be ≥ 0 (0 = one per core), got {Threads}";
        if (Background is < 0 or > 255) yield return $"background must be between 0 and 255, got {Background}";
        for (int i = 0; i < Operations.Count; i++)
            foreach (var problem in Operations[i].Validate())
                yield return $"operations[{i}] ({Operations[i].Name}): {problem}";
    }

    /// <summary>A method, not a property: it depends on the machine, so it must stay out of the fingerprint.</summary>
    public int WorkerThreads() => Threads > 0 ? Threads : Environment.ProcessorCount;
}

public sealed class AugmentException(string message) : PipelineException(message);
