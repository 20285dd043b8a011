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
public sealed class AugmentStage : Stage<AugmentStage>
{
    public const string Manifest = "manifest.jsonl", Preview = "preview.png", PngFolder = "png";

    public override string Name => "augment";
    public override string Description => "Make augmented training images from Verify's arrays (Augmentor's operations, deterministic): arrays, manifest, preview sheet.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    // threads does not change a byte; join_training is Train's business.
    public override IReadOnlyList<string> Shapes =>
        ["augment.seed", "augment.samples", "augment.source", "augment.png", "augment.preview_images", "augment.background", "augment.operations"];
    public override IReadOnlyList<string> Code =>
        ["src/Pipeline/Augmentation/*.cs", "src/Pipeline/Rng.cs", "src/Pipeline/Imaging/Png.cs", "src/Pipeline/Imaging/ContactSheet.cs",
         "src/Pipeline/Imaging/Fonts.cs", "src/Pipeline/Imaging/ImageLoader.cs", "src/Pipeline/Acquisition/VerifiedDataset.cs"];

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        var parameters = context.Section<AugmentParameters>();
        var result = Run(dataset, verified, parameters, workspace.Directory, context.Log, (path, bytes) => workspace.Declare(path, bytes), context.Cancellation);
        context.Log.Information("augment: {Images:N0} images from {Source} in {Seconds:0.00} s, {Rate:N0} images/s{Png}",
            result.Images, parameters.Source, result.Seconds, result.ImagesPerSecond, parameters.Png ? " (with PNG files)" : "");
        workspace.Metrics["images"] = result.Images;
        workspace.Metrics["images_per_second"] = Math.Round(result.ImagesPerSecond);
        foreach (var (operation, count) in result.TimesApplied)
            workspace.Metrics[$"applied {operation}"] = count;
        return Task.CompletedTask;
    }

    /// <param name="onFile">Told each file written from memory with its bytes, so the caller can record its hash.</param>
    public static AugmentResult Run(VerifiedDataset dataset, string verified, AugmentParameters parameters, string output,
        ILogger log, Action<string, byte[]>? onFile = null, CancellationToken cancellation = default)
    {
        var source = dataset.LoadSplit(verified, parameters.Source);
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

        var clock = Stopwatch.StartNew();
        var augmented = Augmenter.Run(source, parameters, parameters.PreviewImages, writePng,
            new Progress(log, "augment", parameters.Samples, "images"), cancellation);
        double seconds = clock.Elapsed.TotalSeconds;

        var images = augmented.Images;
        Write(output, VerifiedDataset.ImagesFile(Augmenter.SplitName), images.Images, onFile);
        Write(output, VerifiedDataset.LabelsFile(Augmenter.SplitName), images.Labels, onFile);
        CanonicalJson.WriteFile(Path.Combine(output, VerifiedDataset.FileName), dataset with
        {
            Splits = new(new Dictionary<string, int> { [Augmenter.SplitName] = images.Count }, StringComparer.Ordinal),
        });
        var manifest = new StringBuilder(images.Count * 64);
        for (int i = 0; i < images.Count; i++)
            manifest.Append($"{{\"index\":{i},\"source\":{augmented.Sources[i]},\"label\":{images.Labels[i]},\"operations\":{augmented.Applied[i]}}}\n");
        Write(output, Manifest, Encoding.UTF8.GetBytes(manifest.ToString()), onFile);
        File.WriteAllBytes(Path.Combine(output, Preview), PreviewSheet(source, augmented, dataset.Classes));

        var timesApplied = parameters.Operations.Select((op, k) => (Key: $"{k}:{op.Name}", Count: augmented.TimesApplied[k]))
            .ToDictionary(p => p.Key, p => p.Count);
        return new AugmentResult(images.Count, seconds, timesApplied);
    }

    static void Write(string output, string relative, byte[] bytes, Action<string, byte[]>? onFile)
    {
        File.WriteAllBytes(Path.Combine(output, relative), bytes);
        onFile?.Invoke(relative, bytes);
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
