using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// Labelled examples a model reads by index, as float32 rows: images scaled to 0..1 (C×H×W) or feature vectors.
/// <see cref="BatchLoader"/> gathers batches of them; nothing here holds more than one batch of examples.
/// </summary>
public abstract class ExampleSource : IDisposable
{
    public abstract int Count { get; }

    /// <summary>The shape of one example: <c>C×H×W</c>, or <c>dim</c> for features.</summary>
    public abstract long[] ExampleShape { get; }

    public long ExampleLength => ExampleShape.Aggregate(1L, (a, b) => a * b);

    public abstract int Label(long index);

    /// <summary>Writes the examples at <paramref name="indices"/>, in that order, into <paramref name="destination"/>
    /// (<c>indices.Length × ExampleLength</c> floats). One caller at a time.</summary>
    public abstract void Gather(ReadOnlySpan<long> indices, Span<float> destination);

    public virtual void Dispose() { }
}

/// <summary>
/// Image splits read from disk (e.g. train then augmented, indexed across them in order). Each gather reads its images
/// with positioned reads (runs of consecutive indices in one read) into a reused byte buffer, then scales them to
/// float32 exactly as libtorch's <c>to_type(Float32).div_(255)</c> does, by a table libtorch made.
/// </summary>
public sealed class ImageExamples : ExampleSource
{
    readonly IReadOnlyList<ImageSplit> splits;
    readonly long[] firsts;
    readonly bool owns;
    byte[] scratch = [];

    static readonly Lazy<float[]> scale = new(() =>
    {
        using var bytes = tensor(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), [256]);
        using var floats = bytes.to_type(ScalarType.Float32).div_(255f);
        return floats.data<float>().ToArray();
    });

    /// <param name="owns">dispose the splits with this source</param>
    public ImageExamples(IReadOnlyList<ImageSplit> splits, bool owns = true)
    {
        if (splits.Count == 0) throw new ArgumentException("at least one split is needed", nameof(splits));
        var first = splits[0];
        if (splits.Any(s => s.Channels != first.Channels || s.Rows != first.Rows || s.Columns != first.Columns))
            throw new DatasetException($"splits {string.Join(", ", splits.Select(s => $"{s.Name} ({s.Channels}×{s.Rows}×{s.Columns})"))} differ in image shape");
        (this.splits, this.owns) = (splits, owns);
        firsts = new long[splits.Count + 1];
        for (int i = 0; i < splits.Count; i++) firsts[i + 1] = firsts[i] + splits[i].Count;
        Count = checked((int)firsts[^1]);
        ExampleShape = [first.Channels, first.Rows, first.Columns];
    }

    public override int Count { get; }
    public override long[] ExampleShape { get; }

    /// <summary>The float a pixel byte becomes (libtorch's own conversion, so results match a whole-tensor conversion bit for bit).</summary>
    public static float[] Scale => scale.Value;

    (int Split, long Local) Locate(long index)
    {
        if (index < 0 || index >= Count) throw new ArgumentOutOfRangeException(nameof(index), $"example {index} of {Count:N0}");
        int s = 0;
        while (index >= firsts[s + 1]) s++;
        return (s, index - firsts[s]);
    }

    public override int Label(long index)
    {
        var (s, local) = Locate(index);
        return splits[s].Labels[local];
    }

    public override void Gather(ReadOnlySpan<long> indices, Span<float> destination)
    {
        int size = splits[0].ImageSize;
        if (scratch.Length < indices.Length * size) scratch = new byte[indices.Length * size];
        for (int k = 0; k < indices.Length;)
        {
            var (s, local) = Locate(indices[k]);
            int run = 1;
            while (k + run < indices.Length && indices[k + run] == indices[k] + run && local + run < splits[s].Count) run++;
            splits[s].Read(local, run, scratch.AsSpan(k * size, run * size));
            k += run;
        }
        var table = Scale;
        var bytes = scratch.AsSpan(0, indices.Length * size);
        var target = destination[..bytes.Length];
        for (int i = 0; i < bytes.Length; i++) target[i] = table[bytes[i]];
    }

    public override void Dispose()
    {
        if (owns) foreach (var split in splits) split.Dispose();
    }
}

/// <summary>A split of Featurize's feature vectors, read by range from its file.</summary>
public sealed class FeatureExamples(Pipeline.Features.FeatureSplit split) : ExampleSource
{
    public override int Count => split.Count;
    public override long[] ExampleShape { get; } = [split.Dim];
    public override int Label(long index) => split.Labels[index];

    public override void Gather(ReadOnlySpan<long> indices, Span<float> destination)
    {
        for (int k = 0; k < indices.Length;)
        {
            int run = 1;
            while (k + run < indices.Length && indices[k + run] == indices[k] + run) run++;
            split.ReadRows(indices[k], run, destination.Slice(k * split.Dim, run * split.Dim));
            k += run;
        }
    }
}
