using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// Examples and labels held in memory as tensors (small sets, tests): images as a float tensor <c>N×C×rows×columns</c>
/// scaled to 0..1, or feature vectors <c>N×dim</c>; labels as int64. <see cref="Images"/> holds the examples either
/// way. The stages read from disk by batch instead (<see cref="ImageExamples"/>).
/// </summary>
public sealed class LabelledTensors : ExampleSource
{
    readonly long[] labels;

    public Tensor Images { get; }
    public Tensor Labels { get; }
    public override int Count { get; }

    LabelledTensors(Tensor images, Tensor labels)
    {
        (Images, Labels, Count) = (images, labels, (int)labels.shape[0]);
        this.labels = labels.data<long>().ToArray();
    }

    public override int Label(long index) => (int)labels[index];

    public override void Gather(ReadOnlySpan<long> indices, Span<float> destination)
    {
        var all = MemoryMarshal.Cast<byte, float>(Images.bytes);
        int length = (int)ExampleLength;
        for (int k = 0; k < indices.Length; k++)
            all.Slice(checked((int)(indices[k] * length)), length).CopyTo(destination.Slice(k * length, length));
    }

    /// <summary>Stacks splits in order (e.g. train then augmented): one tensor pair, no copy of the byte arrays kept.</summary>
    public static LabelledTensors From(params ImageSplit[] splits)
    {
        if (splits.Length == 0) throw new ArgumentException("at least one split is needed", nameof(splits));
        int channels = splits[0].Channels, rows = splits[0].Rows, columns = splits[0].Columns, size = splits[0].ImageSize;
        if (splits.Any(s => s.Channels != channels || s.Rows != rows || s.Columns != columns))
            throw new DatasetException($"splits {string.Join(", ", splits.Select(s => $"{s.Name} ({s.Channels}×{s.Rows}×{s.Columns})"))} differ in image shape");
        int count = splits.Sum(s => s.Count);
        var pixels = new byte[(long)count * size];
        var labels = new long[count];
        int offset = 0;
        foreach (var split in splits)
        {
            split.Read(0, split.Count, pixels.AsSpan(checked(offset * size)));
            for (int i = 0; i < split.Count; i++) labels[offset + i] = split.Labels[i];
            offset += split.Count;
        }
        using var bytes = tensor(pixels, [count, channels, rows, columns]);
        return new LabelledTensors(bytes.to_type(ScalarType.Float32).div_(255f), tensor(labels));
    }

    /// <summary>Feature vectors, row-major <c>labels.Length × dim</c>.</summary>
    public static LabelledTensors FromFeatures(float[] features, int dim, byte[] labels) =>
        new(tensor(features, [labels.Length, dim]), tensor(labels.Select(l => (long)l).ToArray()));

    public override long[] ExampleShape => Images.shape[1..];

    public override void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
