using System.Runtime.InteropServices;
using System.Text.Json;
using Pipeline.Stages;

namespace Pipeline.Features;

/// <summary>One split's features (row-major <c>Count × Dim</c> float32 in <see cref="Path"/>, read by range) and labels
/// (class indices, in memory).</summary>
public sealed record FeatureSplit(string Name, string Path, byte[] Labels, int Dim)
{
    public int Count => Labels.Length;

    /// <summary>Rows <c>start .. start + count</c> into <paramref name="destination"/> (positioned reads; thread-safe).</summary>
    public void ReadRows(long start, int count, Span<float> destination)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows {start}..{start + count} of {Path} ({Count:N0} rows)");
        using var file = File.OpenHandle(Path);
        var bytes = MemoryMarshal.AsBytes(destination[..checked(count * Dim)]);
        long offset = start * Dim * sizeof(float);
        while (!bytes.IsEmpty)
        {
            int read = RandomAccess.Read(file, bytes, offset);
            if (read == 0) throw new FeaturizeException($"{Path}: ended at byte {offset:N0} (was it truncated?)");
            bytes = bytes[read..];
            offset += read;
        }
    }

    public float[] Row(int index)
    {
        var row = new float[Dim];
        ReadRows(index, 1, row);
        return row;
    }

    /// <summary>The whole matrix (small sets and tests; the stages read by range).</summary>
    public float[] Features
    {
        get
        {
            var all = new float[(long)Count * Dim];
            ReadRows(0, Count, all);
            return all;
        }
    }
}

/// <summary>What <c>features.json</c> says: which backbone at which input size made the features, and per split its count
/// (results only: the time it took is in the stage record's metrics, so identical features give identical bytes).</summary>
/// <param name="InputSize">The side of the square the backbone saw (the parameter, or the images' larger side when that is larger).</param>
/// <param name="Rows">The shape of the images the features were made from: <paramref name="Channels"/> × <paramref name="Rows"/> × <paramref name="Columns"/>.</param>
public sealed record FeatureManifest(string Backbone, string BackboneSha256, int InputSize, int Dim,
    IReadOnlyList<string> Classes, SortedDictionary<string, FeatureSplitInfo> Splits, int Rows, int Columns, int Channels = 1)
{
    public const string FileName = "features.json";
}

public sealed record FeatureSplitInfo(int Count);

/// <summary>
/// The Featurize stage's output as a classifier head reads it: <c>features.json</c> and per split
/// <c>&lt;split&gt;-features.f32</c> (float32 little-endian, <c>Count × Dim</c>) and <c>&lt;split&gt;-labels.u8</c>.
/// </summary>
public sealed record FeatureSet(FeatureManifest Manifest, IReadOnlyDictionary<string, FeatureSplit> Splits)
{
    public static string FeaturesFile(string split) => $"{split}-features.f32";
    public static string LabelsFile(string split) => $"{split}-labels.u8";

    public FeatureSplit this[string split] => Splits.TryGetValue(split, out var s) ? s
        : throw new FeaturizeException($"the feature set has no split '{split}' (splits: {string.Join(", ", Splits.Keys)})");

    /// <summary>Loads <paramref name="splits"/> (default: all) from <paramref name="directory"/> (e.g. artifacts/featurize).</summary>
    public static FeatureSet Load(string directory, IEnumerable<string>? splits = null)
    {
        string path = Path.Combine(directory, FeatureManifest.FileName);
        if (!File.Exists(path))
            throw new FeaturizeException($"{path} not found: run the Featurize stage first");
        var manifest = JsonSerializer.Deserialize<FeatureManifest>(File.ReadAllText(path), CanonicalJson.Options)
            ?? throw new FeaturizeException($"{path}: empty");
        var loaded = new SortedDictionary<string, FeatureSplit>(StringComparer.Ordinal);
        foreach (var split in splits ?? manifest.Splits.Keys)
        {
            if (!manifest.Splits.TryGetValue(split, out var info))
                throw new FeaturizeException($"{path}: no split '{split}' (splits: {string.Join(", ", manifest.Splits.Keys)})");
            loaded[split] = LoadSplit(directory, split, info.Count, manifest.Dim);
        }
        return new FeatureSet(manifest, loaded);
    }

    static FeatureSplit LoadSplit(string directory, string split, int count, int dim)
    {
        string featuresPath = Path.Combine(directory, FeaturesFile(split)), labelsPath = Path.Combine(directory, LabelsFile(split));
        var labels = File.ReadAllBytes(labelsPath);
        if (labels.Length != count)
            throw new FeaturizeException($"{labelsPath}: {labels.Length:N0} labels, features.json says {count:N0}");
        long expected = (long)count * dim * sizeof(float);
        var info = new FileInfo(featuresPath);
        if (!info.Exists) throw new FeaturizeException($"{featuresPath} not found: run the Featurize stage again");
        if (info.Length != expected)
            throw new FeaturizeException($"{featuresPath}: {info.Length:N0} bytes, expected {count:N0} × {dim} float32 = {expected:N0}");
        return new FeatureSplit(split, featuresPath, labels, dim);
    }
}
