using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Features;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Featurize")]
[TaskDescription("Run every image through a pretrained ImageNet CNN (ONNX) and cache its 1280-d features per split.")]
[IsDependentOn(typeof(VerifyTask))]
public sealed class FeaturizeTask : StageTask
{
    // Only the backbone's pin and the input size shape the features: where the backbone comes from, the batch size and
    // the threads do not rerun the stage, and neither does any other section (the classifier head's included).
    public override StageDefinition Define(PipelineContext context)
    {
        var p = context.Parameters.Featurize;
        return new(StageName, 1, new { p.BackboneSha256, p.BackboneBytes, p.InputSize }, new UpstreamInput("verify"));
    }

    protected override async Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var p = context.Parameters.Featurize;
        string backbone = await BackboneSource.FetchAsync(p, context.Root, workspace.Directory, [workspace.Leftover, workspace.Previous],
            context.Parameters.Download.Options, context.Logger, context.Cancellation);
        using var featurizer = Featurizer.Load(backbone, p.Threads);
        string verified = context.Store.StageDirectory("verify");
        var result = FeatureExtractor.Extract(VerifiedDataset.Load(verified), verified, featurizer, p.BackboneSha256, p.InputSize, p.BatchSize,
            workspace.Directory, context.Logger, (path, bytes) => workspace.Declare(path, bytes));
        context.Logger.Information("featurize: {Images:N0} images at {Size}×{Size} in {Seconds:0.00} s, {Rate:N0} images/s",
            result.Images, p.InputSize, p.InputSize, result.Seconds, result.ImagesPerSecond);
        workspace.Metrics["images"] = result.Images;
        workspace.Metrics["seconds"] = Math.Round(result.Seconds, 2);
        workspace.Metrics["images_per_second"] = Math.Round(result.ImagesPerSecond);
        workspace.Tools["onnxruntime"] = Featurizer.RuntimeVersion;
    }
}
