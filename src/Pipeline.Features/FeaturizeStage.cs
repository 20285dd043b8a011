using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Features;

/// <summary>Featurize: every verified image through a pretrained ImageNet CNN (ONNX), 1280-d features per split.</summary>
public sealed class FeaturizeStage : Stage<FeaturizeStage>
{
    public override string Name => "featurize";
    public override string Description => "Run every image through a pretrained ImageNet CNN (ONNX) and cache its 1280-d features per split.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    // The backbone's pin and the input size shape the features; where the backbone comes from, the batch size and the
    // threads do not.
    public override IReadOnlyList<string> Shapes => ["featurize.backbone_sha256", "featurize.backbone_bytes", "featurize.input_size"];
    public override IReadOnlyList<string> Code =>
        ["src/Pipeline.Features/*.cs", "src/Pipeline/Onnx/*.cs", "src/Pipeline/Acquisition/VerifiedDataset.cs"];

    /// <summary>Fetches and verifies the backbone (kept with the outputs, so a rerun reuses it), then featurizes every split.</summary>
    public override async Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var p = context.Section<FeaturizeParameters>();
        var (dataset, verified) = VerifyStage.Load(context);
        string backbone = await BackboneSource.FetchAsync(p, context.Root, workspace.Directory, workspace.Salvage,
            context.Section<DownloadParameters>().Options, context.Mirrors, context.Log, context.Cancellation);
        using var featurizer = Featurizer.Load(backbone, p.Threads);
        int size = p.InputSizeFor(dataset.Rows, dataset.Columns);
        var result = FeatureExtractor.Extract(dataset, verified, featurizer, p.BackboneSha256, size, p.BatchSize,
            workspace.Directory, context.Log, (path, bytes) => workspace.Declare(path, bytes), context.Cancellation);
        context.Log.Information("featurize: {Images:N0} images of {Channels}×{Rows}×{Columns} at {Size}×{Size} in {Seconds:0.00} s, {Rate:N0} images/s",
            result.Images, dataset.Channels, dataset.Rows, dataset.Columns, size, size, result.Seconds, result.ImagesPerSecond);
        workspace.Metrics["images"] = result.Images;
        workspace.Metrics["seconds"] = Math.Round(result.Seconds, 2);
        foreach (var (split, seconds) in result.SplitSeconds)
            workspace.Metrics[$"seconds {split}"] = Math.Round(seconds, 2);
        workspace.Metrics["images_per_second"] = Math.Round(result.ImagesPerSecond);
        workspace.Metrics["preprocess_seconds"] = Math.Round(result.PreprocessSeconds, 2);
        workspace.Tools["onnxruntime"] = Featurizer.RuntimeVersion;
    }
}
