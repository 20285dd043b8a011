using System.Diagnostics;
using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Features;

/// <summary>What featurizing a range of the images did: how many, and how long it took (all; reading and preparing
/// tensors, running the CNN, writing features; per split).</summary>
/// <param name="PreprocessSeconds">Time spent reading and preparing tensors, on a worker while the CNN runs the batch before.</param>
/// <param name="WaitSeconds">The part of <paramref name="Seconds"/> the CNN waited for a prepared batch.</param>
public sealed record FeaturizeRangeResult(int Images, double Seconds, double PreprocessSeconds, IReadOnlyDictionary<string, double> SplitSeconds,
    double InferenceSeconds = 0, double WriteSeconds = 0, double WaitSeconds = 0)
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
        // Two buffers: the next batch is read and prepared on a worker while the CNN runs the current one.
        var batches = new[] { new float[batchSize * preprocessor.TensorLength], new float[batchSize * preprocessor.TensorLength] };
        var pixels = new byte[batchSize * dataset.ImageSize];
        var seconds = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var total = Stopwatch.StartNew();
        Stopwatch preprocessing = new(), waiting = new(), inference = new(), writing = new();
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
            // Only this worker reads the split and fills a buffer; the loop below waits for it before touching the other.
            Task Prepare(int start, float[] batch) => Task.Run(() =>
            {
                preprocessing.Start();
                int count = Math.Min(batchSize, to - start);
                split.Read(start, count, pixels);
                for (int i = 0; i < count; i++)
                    preprocessor.Write(pixels.AsSpan(i * split.ImageSize, split.ImageSize), batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
                preprocessing.Stop();
            });
            // Written batch by batch: memory is one batch of features (a full disk fails the write; nothing is recorded).
            using var file = new FileStream(Path.Combine(output, FeatureSet.FeaturesFile(name)), FileMode.Create, FileAccess.Write);
            var prepared = from < to ? Prepare(from, batches[0]) : Task.CompletedTask;
            for (int start = from, slot = 0; start < to; start += batchSize, slot ^= 1)
            {
                waiting.Start();
                prepared.GetAwaiter().GetResult(); // a failed read or preparation surfaces here
                waiting.Stop();
                cancellation.ThrowIfCancellationRequested();
                int count = Math.Min(batchSize, to - start);
                prepared = start + batchSize < to ? Prepare(start + batchSize, batches[slot ^ 1]) : Task.CompletedTask;
                try
                {
                    inference.Start();
                    featurizer.Run(batches[slot], count, inputSize, features.AsMemory(0, count * featurizer.Dim));
                    inference.Stop();
                    writing.Start();
                    file.Write(MemoryMarshal.AsBytes(features.AsSpan(0, count * featurizer.Dim)));
                    writing.Stop();
                }
                catch
                {
                    ((IAsyncResult)prepared).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)); // the worker must not outlive the split it reads; its own error must not hide this one
                    throw;
                }
                progress.Add(count);
            }
            seconds[name] = clock.Elapsed.TotalSeconds;
        }
        progress.Complete();
        return new FeaturizeRangeResult(range.Count, total.Elapsed.TotalSeconds, preprocessing.Elapsed.TotalSeconds, seconds,
            inference.Elapsed.TotalSeconds, writing.Elapsed.TotalSeconds, waiting.Elapsed.TotalSeconds);
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
