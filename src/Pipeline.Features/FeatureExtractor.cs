using System.Diagnostics;
using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Features;

/// <summary>What featurizing a range of the images did: how many, and how long it took (all; reading and preparing
/// tensors, running the CNN, writing features; per split).</summary>
/// <param name="PreprocessSeconds">The part of <paramref name="Seconds"/> spent preparing tensors (the rest is mostly the CNN).</param>
public sealed record FeaturizeRangeResult(int Images, double Seconds, double PreprocessSeconds, IReadOnlyDictionary<string, double> SplitSeconds,
    double InferenceSeconds = 0, double WriteSeconds = 0)
{
    public double ImagesPerSecond => Images / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Runs every split of a verified dataset through the featurizer in batches, with progress, and writes the feature
/// matrices, the labels and <c>features.json</c> (see <see cref="FeatureSet"/>). The images are indexed across the
/// splits in order, so a range of them (a shard) writes its rows of each split's matrix, and the ranges' rows
/// concatenate into the whole matrix.
/// </summary>
public static class FeatureExtractor
{
    /// <summary>The images of every split, in the order their indices run.</summary>
    public static IReadOnlyList<string> Splits(VerifiedDataset dataset) => [.. VerifiedDataset.SplitOrder.Where(dataset.Splits.ContainsKey)];

    /// <summary>Featurizes the images of <paramref name="range"/> and writes each split's rows of it as its <c>&lt;split&gt;-features.f32</c>.</summary>
    /// <param name="declare">Told each output's bytes as it is written, so the engine need not read it back to hash it.</param>
    public static FeaturizeRangeResult ExtractRange(VerifiedDataset dataset, string verifiedDirectory, Featurizer featurizer,
        int inputSize, int batchSize, ItemRange range, string output, ILogger log, Action<string, ReadOnlySpan<byte>>? declare = null,
        CancellationToken cancellation = default)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the feature files are written as little-endian float32");
        Directory.CreateDirectory(output);
        var preprocessor = new ImagePreprocessor(dataset.Rows, dataset.Columns, inputSize, dataset.Channels);
        var progress = new Progress(log, "featurize", range.Count, "images");
        var batch = new float[batchSize * preprocessor.TensorLength];
        var pixels = new byte[batchSize * dataset.ImageSize];
        var seconds = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var total = Stopwatch.StartNew();
        Stopwatch preprocessing = new(), inference = new(), writing = new();
        int offset = 0;
        foreach (var name in Splits(dataset))
        {
            int splitCount = dataset.Splits[name];
            var (from, to) = range.Within(offset, splitCount);
            offset += splitCount;
            if (from == to && splitCount > 0) continue; // an empty split's (empty) file is every range's
            var clock = Stopwatch.StartNew();
            using var split = dataset.LoadSplit(verifiedDirectory, name);
            var features = new float[batchSize * featurizer.Dim];
            // Written batch by batch: memory is one batch of features (a full disk fails the write; nothing is recorded).
            using var file = new FileStream(Path.Combine(output, FeatureSet.FeaturesFile(name)), FileMode.Create, FileAccess.Write);
            for (int start = from; start < to; start += batchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                int count = Math.Min(batchSize, to - start);
                // Sequential on purpose: preparing a batch is a few percent of running it (see the preprocess metric).
                preprocessing.Start();
                split.Read(start, count, pixels);
                for (int i = 0; i < count; i++)
                    preprocessor.Write(pixels.AsSpan(i * split.ImageSize, split.ImageSize), batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
                preprocessing.Stop();
                inference.Start();
                featurizer.Run(batch, count, inputSize, features.AsMemory(0, count * featurizer.Dim));
                inference.Stop();
                writing.Start();
                file.Write(MemoryMarshal.AsBytes(features.AsSpan(0, count * featurizer.Dim)));
                writing.Stop();
                progress.Add(count);
            }
            seconds[name] = clock.Elapsed.TotalSeconds;
        }
        progress.Complete();
        return new FeaturizeRangeResult(range.Count, total.Elapsed.TotalSeconds, preprocessing.Elapsed.TotalSeconds, seconds,
            inference.Elapsed.TotalSeconds, writing.Elapsed.TotalSeconds);
    }

    /// <summary>What is drawn from the whole dataset: each split's labels and <c>features.json</c> (<paramref name="dim"/> features an image).</summary>
    public static FeatureManifest Complete(VerifiedDataset dataset, string verifiedDirectory, string backbone, string backboneSha256,
        int inputSize, int dim, string output, Action<string, ReadOnlySpan<byte>>? declare = null)
    {
        var infos = new SortedDictionary<string, FeatureSplitInfo>(StringComparer.Ordinal);
        foreach (var name in Splits(dataset))
        {
            Write(output, FeatureSet.LabelsFile(name), File.ReadAllBytes(Path.Combine(verifiedDirectory, VerifiedDataset.LabelsFile(name))), declare);
            infos[name] = new FeatureSplitInfo(dataset.Splits[name]);
        }
        var manifest = new FeatureManifest(backbone, backboneSha256, inputSize, dim, dataset.Classes, infos, dataset.Rows, dataset.Columns, dataset.Channels);
        CanonicalJson.WriteFile(Path.Combine(output, FeatureManifest.FileName), manifest);
        return manifest;
    }

    static void Write(string directory, string name, ReadOnlySpan<byte> bytes, Action<string, ReadOnlySpan<byte>>? declare)
    {
        using (var file = new FileStream(Path.Combine(directory, name), FileMode.Create, FileAccess.Write))
            file.Write(bytes);
        declare?.Invoke(name, bytes);
    }
}
