using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// One split's images (<c>Count × Channels × Rows × Columns</c> bytes: each image channel-planar, as torch lays out
/// C×H×W; one channel is gray, three are R, G, B) and labels (class indices). A split opened from disk is a view: its
/// labels are in memory (one byte an image), its images are read by range into the caller's buffer with positioned
/// reads (thread-safe), so no split is ever held whole. A split built from arrays (tests, small in-memory sets) reads
/// from them.
/// </summary>
public sealed class ImageSplit : IDisposable
{
    readonly byte[]? memory;
    readonly SafeFileHandle? file;

    public string Name { get; }
    public byte[] Labels { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int Channels { get; }
    /// <summary>Where the images are read from (null for a split in memory).</summary>
    public string? ImagesPath { get; }

    /// <summary>A split held in memory: <paramref name="images"/> is <c>labels.Length × channels × rows × columns</c> bytes.</summary>
    public ImageSplit(string name, byte[] images, byte[] labels, int rows, int columns, int channels = 1)
    {
        (Name, Labels, Rows, Columns, Channels, memory) = (name, labels, rows, columns, channels, images);
        if (images.LongLength != (long)labels.Length * ImageSize)
            throw new ArgumentException($"split '{name}': {images.LongLength:N0} bytes are not {labels.Length:N0} images of {channels}×{rows}×{columns}");
    }

    ImageSplit(string name, SafeFileHandle file, string path, byte[] labels, int rows, int columns, int channels) =>
        (Name, this.file, ImagesPath, Labels, Rows, Columns, Channels) = (name, file, path, labels, rows, columns, channels);

    /// <summary>
    /// Opens a split's files as a view. A file shorter (or longer) than <paramref name="count"/> images of the shape is
    /// an error naming the file: a truncated copy must not train on a shifted or partial split.
    /// </summary>
    public static ImageSplit Open(string name, string imagesPath, string labelsPath, int count, int rows, int columns, int channels)
    {
        long expected = (long)count * channels * rows * columns;
        foreach (var (path, bytes, what) in new[] { (labelsPath, (long)count, "labels"), (imagesPath, expected, $"images of {channels}×{rows}×{columns}") })
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new DatasetException($"{path} not found: split '{name}' needs it (run the Verify stage again)");
            if (info.Length != bytes)
                throw new DatasetException($"{path}: {info.Length:N0} bytes, but dataset.json says split '{name}' holds {count:N0} {what} ({bytes:N0} bytes): the file is {(info.Length < bytes ? "truncated" : "too long")}");
        }
        byte[] labels = File.ReadAllBytes(labelsPath);
        var handle = File.OpenHandle(imagesPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new ImageSplit(name, handle, imagesPath, labels, rows, columns, channels);
    }

    public int Count => Labels.Length;
    public int ImageSize => Channels * Rows * Columns;

    /// <summary>The whole image array of a split held in memory; a split opened from disk is read by range instead.</summary>
    public byte[] Images => memory ?? throw new InvalidOperationException($"split '{Name}' is read from {ImagesPath} by range, not held in memory");

    /// <summary>Copies images <c>start .. start + count</c> into <paramref name="destination"/> (at least count × ImageSize bytes).</summary>
    public void Read(long start, int count, Span<byte> destination)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"images {start}..{start + count} of split '{Name}' ({Count:N0} images)");
        long offset = start * ImageSize;
        var target = destination[..checked(count * ImageSize)];
        if (memory is not null)
        {
            memory.AsSpan().Slice(checked((int)offset), target.Length).CopyTo(target);
            return;
        }
        while (!target.IsEmpty)
        {
            int read = RandomAccess.Read(file!, target, offset);
            if (read == 0)
                throw new DatasetException($"{ImagesPath}: ended at byte {offset:N0} while reading split '{Name}' (was it truncated?)");
            target = target[read..];
            offset += read;
        }
    }

    /// <summary>Image <paramref name="index"/>: a slice of a split in memory, a fresh copy of one read from disk.</summary>
    public ReadOnlySpan<byte> Image(long index)
    {
        if (memory is not null) return memory.AsSpan(checked((int)(index * ImageSize)), ImageSize);
        var pixels = new byte[ImageSize];
        Read(index, 1, pixels);
        return pixels;
    }

    public int[] ClassCounts(int classes)
    {
        var counts = new int[classes];
        foreach (var label in Labels) counts[label]++;
        return counts;
    }

    public void Dispose() => file?.Dispose();
}

/// <summary>
/// The Verify stage's output, as later stages read it: <c>dataset.json</c> (name, classes, shape C×H×W, splits) and per
/// split two raw files, <c>&lt;split&gt;-images.u8</c> and <c>&lt;split&gt;-labels.u8</c>; a split opens as a view
/// (<see cref="ImageSplit"/>) whose images are read by range.
/// </summary>
public sealed record VerifiedDataset(string Name, IReadOnlyList<string> Classes, int Rows, int Columns,
    SortedDictionary<string, int> Splits, int Channels = 1)
{
    public int ImageSize => Channels * Rows * Columns;

    public const string FileName = "dataset.json";
    public static readonly string[] SplitOrder = ["train", "validation", "test"];

    public static VerifiedDataset Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new DatasetException($"{path} not found: run the Verify stage first");
        return JsonSerializer.Deserialize<VerifiedDataset>(File.ReadAllText(path), CanonicalJson.Options)
            ?? throw new DatasetException($"{path}: empty");
    }

    /// <summary>Opens a split as a view over its files (dispose it to close them).</summary>
    public ImageSplit LoadSplit(string directory, string split)
    {
        if (!Splits.TryGetValue(split, out int count))
            throw new DatasetException($"dataset '{Name}' has no split '{split}' (splits: {string.Join(", ", Splits.Keys)})");
        return ImageSplit.Open(split, Path.Combine(directory, ImagesFile(split)), Path.Combine(directory, LabelsFile(split)), count, Rows, Columns, Channels);
    }

    public static string ImagesFile(string split) => $"{split}-images.u8";
    public static string LabelsFile(string split) => $"{split}-labels.u8";
}
