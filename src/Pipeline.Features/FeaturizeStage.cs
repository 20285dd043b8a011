using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Features;

/// <summary>Featurize: every verified image through a pretrained ImageNet CNN (ONNX), its pooled features per split.</summary>
public sealed class FeaturizeStage : ShardableStage<FeaturizeStage>
{
    public override string Name => "featurize";
    public override string Description => "Run every image through a pretrained ImageNet CNN (ONNX) and cache its pooled features per split.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    // The backbone's pin and the input size shape the features; where the backbone comes from, the batch size and the
    // threads do not.
    public override IReadOnlyList<string> Shapes => ["featurize.backbone_sha256", "featurize.backbone_bytes", "featurize.input_size"];
    /// <summary>The images of every split, indexed across the splits in order.</summary>
    public override int Items(StageContext context)
    {
        var (dataset, _) = VerifyStage.Load(context);
        return FeatureExtractor.Splits(dataset).Sum(s => dataset.Splits[s]);
    }

    public override IReadOnlyList<string> Concatenated(StageContext context) =>
        [.. FeatureExtractor.Splits(VerifyStage.Load(context).Dataset).Select(FeatureSet.FeaturesFile)];

    /// <summary>Fetches and verifies the backbone (kept with the outputs, so a rerun reuses it), then featurizes the range.</summary>
    public override async Task ProduceRangeAsync(StageContext context, StageWorkspace part, ItemRange range)
    {
        var p = context.Section<FeaturizeParameters>();
        var (dataset, verified) = VerifyStage.Load(context);
        string backbone = await BackboneSource.FetchAsync(p, context.Root, part.Directory, part.Salvage,
            context.Section<DownloadParameters>().Options, context.Mirrors, context.Log, context.Cancellation);
        using var featurizer = Featurizer.Load(backbone, p.Threads);
        int size = p.InputSizeFor(dataset.Rows, dataset.Columns);
        var result = FeatureExtractor.ExtractRange(dataset, verified, featurizer, size, p.BatchSize, range,
            part.Directory, context.Log, (path, bytes) => part.Declare(path, bytes), context.Cancellation);
        context.Log.Information("featurize: {Images:N0} images of {Channels}×{Rows}×{Columns} at {Size}×{Size} in {Seconds:0.00} s, {Rate:N0} images/s",
            result.Images, dataset.Channels, dataset.Rows, dataset.Columns, size, size, result.Seconds, result.ImagesPerSecond);
        part.Metrics["images"] = result.Images;
        part.Metrics["seconds"] = Math.Round(result.Seconds, 2);
        foreach (var (split, seconds) in result.SplitSeconds)
            part.Metrics[$"seconds {split}"] = Math.Round(seconds, 2);
        part.Metrics["preprocess_seconds"] = Math.Round(result.PreprocessSeconds, 2);
        part.Metrics["wait_seconds"] = Math.Round(result.WaitSeconds, 2);
        part.Metrics["inference_seconds"] = Math.Round(result.InferenceSeconds, 2);
        part.Metrics["write_seconds"] = Math.Round(result.WriteSeconds, 2);
    }

    public override Task CompleteAsync(StageContext context, StageWorkspace workspace)
    {
        var p = context.Section<FeaturizeParameters>();
        var (dataset, verified) = VerifyStage.Load(context);
        string backbone = FeaturizeParameters.BackboneFileName(p.Backbone);
        int dim = FeaturizerGraph.FromClassifier(File.ReadAllBytes(workspace.PathOf(backbone)), backbone).Dim;
        FeatureExtractor.Complete(dataset, verified, backbone, p.BackboneSha256, p.InputSizeFor(dataset.Rows, dataset.Columns), dim,
            workspace.Directory, (path, bytes) => workspace.Declare(path, bytes));
        workspace.Metrics["images_per_second"] = Math.Round(workspace.Metric("images") / Math.Max(workspace.Metric("seconds"), 1e-9));
        workspace.Tools["onnxruntime"] = Featurizer.RuntimeVersion;
        return Task.CompletedTask;
    }
}
