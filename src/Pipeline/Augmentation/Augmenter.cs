using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Augmentation;

/// <summary>The outputs of one run, in output order: images and labels in Verify's array form, and per output its
/// source index and what was applied (the manifest's JSON array).</summary>
public sealed record Augmented(ImageSplit Images, int[] Sources, string[] Applied, string[] Captions, long[] TimesApplied);

/// <summary>
/// Runs an augmentation pipeline over a split. Output i starts from source image <c>order[i mod count]</c> (a seeded
/// permutation, so every original is used once before any is used twice) and operation k draws from the stream
/// (seed, i, k) alone; each output is written into its own slot, so the bytes are the same for any thread count.
/// </summary>
public static class Augmenter
{
    public const string SplitName = "augmented";

    /// <param name="onImage">Called with each finished output (from worker threads), e.g. to write it as PNG.</param>
    /// <param name="range">The outputs to make (default all <c>samples</c>): output i is the same in any range, so ranges concatenate.</param>
    public static Augmented Run(ImageSplit source, AugmentParameters parameters, int captions = 0,
        Action<int, int, ReadOnlySpan<byte>>? onImage = null, Progress? progress = null, CancellationToken cancellation = default,
        ItemRange? range = null)
    {
        var operations = parameters.Operations;
        for (int k = 0; k < operations.Count; k++)
            if (operations[k].Unsuitable(source.Columns, source.Rows, source.Channels) is { } why)
                throw new AugmentException($"augment.operations[{k}] ({operations[k].Name}): {why}");
        if (source.Count == 0)
            throw new AugmentException($"augment.source: split '{source.Name}' has no images");

        var (first, count) = range is { } r ? (r.Start, r.Count) : (0, parameters.Samples);
        int size = source.ImageSize;
        var order = SourceOrder(parameters.Seed, source.Count);
        var images = new byte[(long)count * size];
        var labels = new byte[count];
        var sources = new int[count];
        var applied = new string[count];
        var captionText = new string[Math.Min(captions, count)];
        var timesApplied = new long[operations.Count];

        Parallel.For(first, first + count, new ParallelOptions { MaxDegreeOfParallelism = parameters.WorkerThreads(), CancellationToken = cancellation },
            () => (Canvas: new Canvas(source.Columns, source.Rows, source.Channels, (byte)parameters.Background), Drawn: new Drawn(), Counts: new long[operations.Count]),
            (i, _, worker) =>
            {
                var (canvas, drawn, counts) = worker;
                int from = order[i % order.Length];
                source.Read(from, 1, canvas.Pixels);
                drawn.Clear();
                for (int k = 0; k < operations.Count; k++)
                {
                    var rng = new Rng(parameters.Seed, i, k);
                    if (!rng.Chance(operations[k].Probability)) continue;
                    operations[k].Apply(canvas, ref rng, drawn);
                    counts[k]++;
                }
                int slot = i - first;
                canvas.Pixels.CopyTo(images.AsSpan(slot * size, size));
                (labels[slot], sources[slot], applied[slot]) = (source.Labels[from], from, drawn.Json);
                if (slot < captionText.Length) captionText[slot] = drawn.Caption;
                onImage?.Invoke(i, labels[slot], canvas.Pixels);
                progress?.Add(1);
                return worker;
            },
            worker => { lock (timesApplied) for (int k = 0; k < timesApplied.Length; k++) timesApplied[k] += worker.Counts[k]; });
        progress?.Complete();
        return new Augmented(new ImageSplit(SplitName, images, labels, source.Rows, source.Columns, source.Channels), sources, applied, captionText, timesApplied);
    }

    /// <summary>A permutation of the source indices drawn from the seed (Fisher–Yates).</summary>
    public static int[] SourceOrder(int seed, int count)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        var rng = Rng.ForSourceOrder(seed);
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Below(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
