using Pipeline.Parameters;
using Pipeline.Training.Models;

namespace Pipeline.Training;

/// <summary>The <c>train</c> section: which CNN, and how it is trained.</summary>
public sealed record TrainParameters : IValidatedParameters
{
    /// <summary>A name from <see cref="ModelCatalog"/>.</summary>
    public string Model { get; init; } = "reference";
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 512;
    /// <summary>Adam's learning rate in the first epoch.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>The learning rate is multiplied by this after every epoch (1 = constant). A per-epoch rule, so
    /// epoch k trains the same whatever the total number of epochs: that is what makes resuming exact.</summary>
    public double LearningRateDecay { get; init; } = 1.0;
    public long Seed { get; init; } = 1;
    /// <summary>libtorch's intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Make MKL take its Intel code path on AMD CPUs (see <see cref="MklCpuDispatch"/>).</summary>
    public bool MklIntelPath { get; init; } = true;

    public IEnumerable<string> Validate()
    {
        if (!ModelCatalog.ImageModels.ContainsKey(Model))
            yield return $"model: unknown model '{Model}' (models: {string.Join(", ", ModelCatalog.ImageModels.Keys)})";
        if (Epochs < 1) yield return $"epochs must be ≥ 1, got {Epochs}";
        if (BatchSize < 1) yield return $"batch_size must be ≥ 1, got {BatchSize}";
        if (!(LearningRate > 0 && LearningRate < 10)) yield return $"learning_rate must be > 0 and < 10, got {LearningRate}";
        if (!(LearningRateDecay > 0 && LearningRateDecay <= 1)) yield return $"learning_rate_decay must be > 0 and ≤ 1, got {LearningRateDecay}";
        if (Threads < 0) yield return $"threads must be ≥ 0 (0 = one per core), got {Threads}";
    }

    public double LearningRateAt(int epoch) => LearningRate * Math.Pow(LearningRateDecay, epoch - 1);
}
