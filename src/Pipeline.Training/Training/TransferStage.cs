using Pipeline.Features;
using Pipeline.Stages;

namespace Pipeline.Training;

/// <summary>Transfer: the classifier head (transfer.head) trained on the backbone's features, checkpointed like Train.</summary>
public sealed class TransferStage : Stage<TransferStage>
{
    public override string Name => "transfer";
    public override string Description => "Train the classifier head (transfer.head) on the pretrained backbone's features, with checkpoints like Train.";
    public override IReadOnlyList<Stage> Upstream => [FeaturizeStage.Instance];
    // The head trains on the CNN's threads and CPU path (TransferParameters.AsTraining).
    public override IReadOnlyList<string> Shapes =>
        ["transfer.head", "transfer.epochs", "transfer.batch_size", "transfer.learning_rate", "transfer.learning_rate_decay", "transfer.seed",
         "train.threads", "train.mkl_intel_path"];
    public override IReadOnlyList<string> Resumable => ["transfer.epochs"];
    public override IReadOnlyList<string> Code => [.. TrainStage.TrainingCode, "src/Pipeline.Features/FeatureSet.cs"];

    public override string? NotNeeded(StageContext context) =>
        context.Section<TransferParameters>().Enabled ? null : "transfer.enabled is false";

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var parameters = context.Section<TransferParameters>().AsTraining(context.Section<TrainParameters>());
        TrainingStage.Prepare(parameters, Path.Combine(context.Store.Root, ".cache"), workspace);

        var features = FeatureSet.Load(context.OutputOf(FeaturizeStage.Instance), ["train", "validation"]);
        using var train = LabelledTensors.FromFeatures(features["train"].Features, features["train"].Dim, features["train"].Labels);
        using var validation = LabelledTensors.FromFeatures(features["validation"].Features, features["validation"].Dim, features["validation"].Labels);
        context.Log.Information("transfer: {Head} head on {Train:N0} × {Dim} features ({Size}×{Size} input), {Validation:N0} validation",
            parameters.Model, train.Count, features["train"].Dim, features.Manifest.InputSize, features.Manifest.InputSize, validation.Count);

        TrainingStage.Run(parameters, new TrainingData(train, validation, features.Manifest.Classes.Count, train.ExampleShape),
            features.Manifest.Classes, workspace, context.Log, context.Cancellation);
        return Task.CompletedTask;
    }
}
