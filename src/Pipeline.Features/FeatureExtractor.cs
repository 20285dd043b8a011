using System.Diagnostics;
using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Features;

/// <param name="PreprocessSeconds">The part of <paramref name="Seconds"/> spent preparing tensors (the rest is mostly the CNN).</param>
/// <param name="SplitSeconds">How long each split took.</param>
public sealed record FeaturizeResult(FeatureManifest Manifest, double Seconds, double PreprocessSeconds, IReadOnlyDictionary<string, double> SplitSeconds)
{
    public int Images => Manifest.Splits.Values.Sum(s => s.Count);
    public double ImagesPerSecond => Images / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Runs every split of a verified dataset through the featurizer in batches, with progress, and writes the feature
/// matrices, the labels and <c>features.json</c> (see <see cref="FeatureSet"/>).
/// </summary>
public static class FeatureExtractor
{
    /// <param name="declare">Told each output's bytes as it is written, so the engine need not read it back to hash it.</param>
    public static FeaturizeResult Extract(VerifiedDataset dataset, string verifiedDirectory, Featurizer featurizer,
        string backboneSha256, int inputSize, int batchSize, string output, ILogger log, Action<string, ReadOnlySpan<byte>>? declare = null,
        CancellationToken cancellation = default)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the feature files are written as little-endian float32");
        Directory.CreateDirectory(output);
        var preprocessor = new ImagePreprocessor(dataset.Rows, dataset.Columns, inputSize, dataset.Channels);
        var splits = VerifiedDataset.SplitOrder.Where(dataset.Splits.ContainsKey).ToList();
        var progress = new Progress(log, "featurize", splits.Sum(s => (long)dataset.Splits[s]), "images");
        var batch = new float[batchSize * preprocessor.TensorLength];
        var infos = new SortedDictionary<string, FeatureSplitInfo>(StringComparer.Ordinal);
        var seconds = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var total = Stopwatch.StartNew();
        var preprocessing = new Stopwatch();
        foreach (var name in splits)
        {
            var clock = Stopwatch.StartNew();
            var split = dataset.LoadSplit(verifiedDirectory, name);
            var features = new float[(long)split.Count * featurizer.Dim];
            for (int start = 0; start < split.Count; start += batchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                int count = Math.Min(batchSize, split.Count - start);
                // Sequential on purpose: preparing a batch is a few percent of running it (see the preprocess metric).
                preprocessing.Start();
                for (int i = 0; i < count; i++)
                    preprocessor.Write(split.Image(start + i), batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
                preprocessing.Stop();
                featurizer.Run(batch, count, inputSize, features.AsMemory(start * featurizer.Dim, count * featurizer.Dim));
                progress.Add(count);
            }
            Write(output, FeatureSet.FeaturesFile(name), MemoryMarshal.AsBytes(features.AsSpan()), declare);
            Write(output, FeatureSet.LabelsFile(name), split.Labels, declare);
            infos[name] = new FeatureSplitInfo(split.Count);
            seconds[name] = clock.Elapsed.TotalSeconds;
        }
        progress.Complete();
        var manifest = new FeatureManifest(featurizer.Source, backboneSha256, inputSize, featurizer.Dim, dataset.Classes, infos, dataset.Rows, dataset.Columns, dataset.Channels);
        CanonicalJson.WriteFile(Path.Combine(output, FeatureManifest.FileName), manifest);
        return new FeaturizeResult(manifest, total.Elapsed.TotalSeconds, preprocessing.Elapsed.TotalSeconds, seconds);
    }

    static void Write(string directory, string name, ReadOnlySpan<byte> bytes, Action<string, ReadOnlySpan<byte>>? declare)
    {
        using (var file = new FileStream(Path.Combine(directory, name), FileMode.Create, FileAccess.Write))
            file.Write(bytes);
        declare?.Invoke(name, bytes);
    }
}
