using Build.Host;
using Pipeline.Features;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Featurize")]
[TaskDescription("Run every image through a pretrained ImageNet CNN (ONNX) and cache its 1280-d features per split.")]
[IsDependentOn(typeof(VerifyTask))]
public sealed class FeaturizeTask : StageTask
{
    public override StageDefinition Define(PipelineContext context) => FeaturizeStage.Define(context.Parameters.Featurize);

    protected override string? NotNeeded(PipelineContext context) =>
        context.Parameters.Transfer.Enabled || string.Equals(context.Settings.Target, TaskName, StringComparison.OrdinalIgnoreCase)
            ? null : "transfer.enabled is false";

    protected override async Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var p = context.Parameters.Featurize;
        var result = await FeaturizeStage.ProduceAsync(p, context.Root, context.Store.StageDirectory("verify"), workspace,
            context.Parameters.Download.Options, context.Mirrors, context.Logger, context.Cancellation);
        context.Logger.Information("featurize: {Images:N0} images at {Size}×{Size} in {Seconds:0.00} s, {Rate:N0} images/s",
            result.Images, p.InputSize, p.InputSize, result.Seconds, result.ImagesPerSecond);
    }
}
