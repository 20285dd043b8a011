using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Augment")]
[TaskDescription("Make augmented training images from Verify's arrays (Augmentor's operations, deterministic): arrays, manifest, preview sheet.")]
[IsDependentOn(typeof(VerifyTask))]
public sealed class AugmentTask : StageTask
{
    public override StageDefinition Define(PipelineContext context) =>
        new(StageName, 1, context.Parameters.Augment, new UpstreamInput("verify"));

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        string verified = context.Store.StageDirectory("verify");
        var parameters = context.Parameters.Augment;
        var result = AugmentStage.Run(VerifiedDataset.Load(verified), verified, parameters, workspace.Directory,
            context.Logger, (path, bytes) => workspace.Declare(path, bytes));
        context.Logger.Information("augment: {Images:N0} images from {Source} in {Seconds:0.00} s, {Rate:N0} images/s{Png}",
            result.Images, parameters.Source, result.Seconds, result.ImagesPerSecond, parameters.Png ? " (with PNG files)" : "");
        workspace.Metrics["images"] = result.Images;
        workspace.Metrics["images_per_second"] = Math.Round(result.ImagesPerSecond);
        workspace.Metrics["join_training"] = parameters.JoinTraining;
        foreach (var (operation, count) in result.TimesApplied)
            workspace.Metrics[$"applied {operation}"] = count;
        return Task.CompletedTask;
    }
}
