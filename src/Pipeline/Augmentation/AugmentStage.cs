using System.Diagnostics;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Imaging;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Augmentation;

public sealed record AugmentResult(int Images, double Seconds, IReadOnlyDictionary<string, long> TimesApplied)
{
    public double ImagesPerSecond => Images / Math.Max(Seconds, 1e-6);
}

/// <summary>
/// The Augment stage. Its outputs from a verified dataset: <c>dataset.json</c> and the <c>augmented-*.u8</c> arrays in
/// Verify's form (so <c>VerifiedDataset.Load(dir).LoadSplit(dir, "augmented")</c> reads them), <c>manifest.jsonl</c>,
/// <c>preview.png</c>, and with <c>png</c> every image as <c>png/&lt;class&gt;/&lt;index&gt;.png</c>.
/// </summary>
public sealed class AugmentStage : ShardableStage<AugmentStage>
{
    public const string Manifest = "manifest.jsonl", Preview = "preview.png", PngFolder = "png";

    public override string Name => "augment";
    public override string Description => "Make augmented training images from Verify's arrays (Augmentor's operations, deterministic): arrays, manifest, preview sheet.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    // threads does not change a byte; join_training is Train's business.
    public override IReadOnlyList<string> Shapes =>
        ["augment.seed", "augment.samples", "augment.source", "augment.png", "augment.preview_images", "augment.background", "augment.operations"];
    public override int Items(StageContext context) => context.Section<AugmentParameters>().Samples;

    public override IReadOnlyList<string> Concatenated(StageContext context) =>
        [VerifiedDataset.ImagesFile(Augmenter.SplitName), VerifiedDataset.LabelsFile(Augmenter.SplitName), Manifest];

    public override Task ProduceRangeAsync(StageContext context, StageWorkspace part, ItemRange range)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        var parameters = context.Section<AugmentParameters>();
        var result = RunRange(dataset, verified, parameters, range, part.Directory, context.Log, (path, bytes) => part.Declare(path, bytes), context.Cancellation);
        context.Log.Information("augment: {Images:N0} images from {Source} in {Seconds:0.00} s, {Rate:N0} images/s{Png}",
            result.Images, parameters.Source, result.Seconds, result.ImagesPerSecond, parameters.Png ? " (with PNG files)" : "");
        part.Metrics["images"] = result.Images;
        part.Metrics["seconds"] = Math.Round(result.Seconds, 3);
        foreach (var (operation, count) in result.TimesApplied)
            part.Metrics[$"applied {operation}"] = count;
        return Task.CompletedTask;
    }

    public override Task CompleteAsync(StageContext context, StageWorkspace workspace)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        Complete(dataset, verified, context.Section<AugmentParameters>(), workspace.Directory);
        workspace.Metrics["images_per_second"] = Math.Round(workspace.Metric("images") / Math.Max(workspace.Metric("seconds"), 1e-6));
        return Task.CompletedTask;
    }

    /// <summary>Makes the outputs in <paramref name="range"/>: their rows of the arrays and the manifest, and their PNG files.</summary>
    /// <param name="onFile">Told each file written from memory with its bytes, so the caller can record its hash.</param>
    public static AugmentResult RunRange(VerifiedDataset dataset, string verified, AugmentParameters parameters, ItemRange range, string output,
        ILogger log, Action<string, byte[]>? onFile = null, CancellationToken cancellation = default, int? chunkImages = null)
    {
        using var source = dataset.LoadSplit(verified, parameters.Source);
        Action<int, int, ReadOnlySpan<byte>>? writePng = null;
        if (parameters.Png)
        {
            ClassNames.Check(dataset.Classes, Path.Combine(verified, VerifiedDataset.FileName));
            foreach (var name in dataset.Classes)
                Directory.CreateDirectory(Path.Combine(output, PngFolder, name));
            writePng = (index, label, pixels) =>
            {
                string relative = $"{PngFolder}/{dataset.Classes[label]}/{index:D5}.png";
                byte[] png = Png.Encode(pixels, source.Columns, source.Rows, source.Channels);
                File.WriteAllBytes(Path.Combine(output, relative), png);
                onFile?.Invoke(relative, png);
            };
        }

        // By chunk: output i does not depend on the range it is made in, so chunks append into the same files, and
        // memory is one chunk whatever the sample count. A full disk fails the write (nothing is recorded).
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(output);
        var progress = new Progress(log, "augment", range.Count, "images");
        var timesApplied = new long[parameters.Operations.Count];
        int chunk = chunkImages ?? ChunkImages(source.ImageSize);
        using (var images = File.Create(Path.Combine(output, VerifiedDataset.ImagesFile(Augmenter.SplitName))))
        using (var labels = File.Create(Path.Combine(output, VerifiedDataset.LabelsFile(Augmenter.SplitName))))
        using (var manifest = new StreamWriter(Path.Combine(output, Manifest), false, new UTF8Encoding(false)))
            for (int start = range.Start; start < range.End; start += chunk)
            {
                var part = new ItemRange(start, Math.Min(start + chunk, range.End));
                var augmented = Augmenter.Run(source, parameters, 0, writePng, progress, cancellation, part);
                images.Write(augmented.Images.Images);
                labels.Write(augmented.Images.Labels);
                for (int i = 0; i < part.Count; i++)
                    manifest.Write($"{{\"index\":{part.Start + i},\"source\":{augmented.Sources[i]},\"label\":{augmented.Images.Labels[i]},\"operations\":{augmented.Applied[i]}}}\n");
                for (int k = 0; k < timesApplied.Length; k++) timesApplied[k] += augmented.TimesApplied[k];
            }
        double seconds = clock.Elapsed.TotalSeconds;

        return new AugmentResult(range.Count, seconds, parameters.Operations.Select((op, k) => (Key: $"{k}:{op.Name}", Count: timesApplied[k]))
            .ToDictionary(p => p.Key, p => p.Count));
    }

    /// <summary>Images made and written at a time: about 64 MB of them.</summary>
    public static int ChunkImages(int imageSize) => Math.Max(1, (64 << 20) / imageSize);

    /// <summary>
    /// What is drawn from the whole: <c>dataset.json</c>, the PNG class folders, and the preview sheet (its few outputs
    /// made again, with their captions: cheaper than carrying captions through every range).
    /// </summary>
    public static void Complete(VerifiedDataset dataset, string verified, AugmentParameters parameters, string output)
    {
        using var source = dataset.LoadSplit(verified, parameters.Source);
        CanonicalJson.WriteFile(Path.Combine(output, VerifiedDataset.FileName), dataset with
        {
            Splits = new(new Dictionary<string, int> { [Augmenter.SplitName] = parameters.Samples }, StringComparer.Ordinal),
        });
        if (parameters.Png)
            foreach (var name in dataset.Classes)
                Directory.CreateDirectory(Path.Combine(output, PngFolder, name));
        int shown = Math.Min(parameters.PreviewImages, parameters.Samples);
        var previewed = Augmenter.Run(source, parameters, shown, range: new ItemRange(0, shown));
        File.WriteAllBytes(Path.Combine(output, Preview), PreviewSheet(source, previewed, dataset.Classes));
    }

    /// <summary>Pairs, five to a row: each original (class and source index) beside its augmented version (what was applied).</summary>
    public static byte[] PreviewSheet(ImageSplit source, Augmented augmented, IReadOnlyList<string> classes)
    {
        var tiles = new List<Tile>();
        for (int i = 0; i < augmented.Captions.Length; i++)
        {
            int from = augmented.Sources[i];
            tiles.Add(Tile.Of(source, from, $"{classes[source.Labels[from]]} #{from}"));
            tiles.Add(Tile.Of(augmented.Images, i, augmented.Captions[i]));
        }
        return ContactSheet.Render(tiles, columns: 10, scale: 3);
    }
}
