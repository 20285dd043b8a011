using Pipeline.Features;
using Pipeline.Onnx;
using Pipeline.Stages;

namespace Pipeline.Training;

/// <summary>Transfer: the classifier head (transfer.head) trained on the backbone's features, checkpointed like Train.</summary>
public sealed class TransferStage : Stage<TransferStage>
{
    public override string Name => "transfer";
    public override string Description => "Train the classifier head (transfer.head) on the pretrained backbone's features, with checkpoints like Train.";
    public override IReadOnlyList<Stage> Upstream => [FeaturizeStage.Instance];
    // The head trains on the CNN's threads and CPU path (TransferParameters.AsTraining).
    public override bool RunsAlone => true;
    public override IReadOnlyList<string> Shapes =>
        ["transfer.head", "transfer.epochs", "transfer.batch_size", "transfer.learning_rate", "transfer.learning_rate_decay", "transfer.seed",
         "train.threads", "train.mkl_intel_path"];
    public override IReadOnlyList<string>? Resumable(StageContext context) => ["transfer.epochs"];

    public override string? NotNeeded(StageContext context) =>
        context.Section<TransferParameters>().Enabled ? null : "transfer.enabled is false";

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var parameters = context.Section<TransferParameters>().AsTraining(context.Section<TrainParameters>());
        TrainingStage.Prepare(parameters, Path.Combine(context.Store.Root, ".cache"), workspace);

        string featurized = context.OutputOf(FeaturizeStage.Instance);
        var features = FeatureSet.Load(featurized, ["train", "validation"]);
        using var train = LabelledTensors.FromFeatures(features["train"].Features, features["train"].Dim, features["train"].Labels);
        using var validation = LabelledTensors.FromFeatures(features["validation"].Features, features["validation"].Dim, features["validation"].Labels);
        context.Log.Information("transfer: {Head} head on {Train:N0} × {Dim} features ({Size}×{Size} input), {Validation:N0} validation",
            parameters.Model, train.Count, features["train"].Dim, features.Manifest.InputSize, features.Manifest.InputSize, validation.Count);

        TrainingStage.Run(parameters, new TrainingData(train, validation, features.Manifest.Classes.Count, train.ExampleShape),
            features.Manifest.Classes, workspace, context.Log, context.Cancellation);

        // One file from raw pixels to classes: the backbone (with Featurize's preprocessing as graph ops), then the head.
        var m = features.Manifest;
        byte[] head = TrainingStage.Onnx(workspace, OnnxPreprocessing.Features($"{m.Backbone} features at {m.InputSize}×{m.InputSize}"));
        File.WriteAllBytes(workspace.PathOf(TrainingStage.OnnxFile),
            TransferGraph.Combine(File.ReadAllBytes(Path.Combine(featurized, m.Backbone)), m.Backbone, m.Channels, m.Rows, m.Columns, m.InputSize, head));
        return Task.CompletedTask;
    }
}
