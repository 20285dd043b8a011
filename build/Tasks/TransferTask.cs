using Build.Host;
using Pipeline.Features;
using Pipeline.Stages;
using Pipeline.Training;

namespace Build.Tasks;

[TaskName("Transfer")]
[TaskDescription("Train the classifier head (transfer.head) on the pretrained backbone's features, with checkpoints like Train.")]
[IsDependentOn(typeof(FeaturizeTask))]
public sealed class TransferTask : StageTask
{
    public override StageDefinition Define(PipelineContext context) =>
        new(StageName, 1, context.Parameters.Transfer.AsTraining(context.Parameters.Train), new UpstreamInput(FeaturizeStage.Name));

    protected override string? NotNeeded(PipelineContext context) => context.Parameters.Transfer.Enabled ? null : "transfer.enabled is false";

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var parameters = context.Parameters.Transfer.AsTraining(context.Parameters.Train);
        TrainingStage.Prepare(parameters, context.Store, workspace);

        var features = FeatureSet.Load(context.Store.StageDirectory(FeaturizeStage.Name), ["train", "validation"]);
        using var train = LabelledTensors.FromFeatures(features["train"].Features, features["train"].Dim, features["train"].Labels);
        using var validation = LabelledTensors.FromFeatures(features["validation"].Features, features["validation"].Dim, features["validation"].Labels);
        context.Logger.Information("transfer: {Head} head on {Train:N0} × {Dim} features ({Size}×{Size} input), {Validation:N0} validation",
            parameters.Model, train.Count, features["train"].Dim, features.Manifest.InputSize, features.Manifest.InputSize, validation.Count);

        TrainingStage.Run(context.Store, Define(context), parameters, new TrainingData(train, validation, features.Manifest.Classes.Count, train.ExampleShape),
            features.Manifest.Classes, workspace, context.Logger, context.Cancellation);
        return Task.CompletedTask;
    }
}
