using System.Text.Json;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// One split's images (<c>Count × Channels × Rows × Columns</c> bytes: each image channel-planar, as torch lays out
/// C×H×W; one channel is gray, three are R, G, B) and labels (class indices).
/// </summary>
public sealed record ImageSplit(string Name, byte[] Images, byte[] Labels, int Rows, int Columns, int Channels = 1)
{
    public int Count => Labels.Length;
    public int ImageSize => Channels * Rows * Columns;
    public ReadOnlySpan<byte> Image(int index) => Images.AsSpan(index * ImageSize, ImageSize);

    public int[] ClassCounts(int classes)
    {
        var counts = new int[classes];
        foreach (var label in Labels) counts[label]++;
        return counts;
    }
}

/// <summary>
/// The Verify stage's output, as later stages read it: <c>dataset.json</c> (name, classes, shape C×H×W, splits) and per
/// split two raw files, <c>&lt;split&gt;-images.u8</c> and <c>&lt;split&gt;-labels.u8</c>, each loaded in one read.
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

    public ImageSplit LoadSplit(string directory, string split)
    {
        if (!Splits.TryGetValue(split, out int count))
            throw new DatasetException($"dataset '{Name}' has no split '{split}' (splits: {string.Join(", ", Splits.Keys)})");
        byte[] images = File.ReadAllBytes(Path.Combine(directory, ImagesFile(split)));
        byte[] labels = File.ReadAllBytes(Path.Combine(directory, LabelsFile(split)));
        if (labels.Length != count || images.Length != (long)count * ImageSize)
            throw new DatasetException($"{directory}: split '{split}' files do not hold {count:N0} images of {Channels}×{Rows}×{Columns}");
        return new ImageSplit(split, images, labels, Rows, Columns, Channels);
    }

    public static string ImagesFile(string split) => $"{split}-images.u8";
    public static string LabelsFile(string split) => $"{split}-labels.u8";
}
