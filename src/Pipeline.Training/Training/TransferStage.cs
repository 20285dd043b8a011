using Pipeline.Features;
using Pipeline.Onnx;
using Pipeline.Stages;

namespace Pipeline.Training;

/// <summary>Transfer: the classifier head (transfer.head) trained on the backbone's features, checkpointed like Train.</summary>
public sealed class TransferStage : Stage<TransferStage>
{
    public override string Name => "transfer";
    public override string Description => "Train the classifier head (transfer.head) on the pretrained backbone's features, with checkpoints like Train.";
    // Verify's framing of the training images goes into the model file.
    public override IReadOnlyList<Stage> Upstream => [FeaturizeStage.Instance, Acquisition.VerifyStage.Instance];
    public override bool RunsAlone => true;
    // The head trains on the CNN's threads and CPU path (TransferParameters.AsTraining).
    public override IReadOnlyList<string> Shapes =>
        ["transfer.head", "transfer.epochs", "transfer.batch_size", "transfer.learning_rate", "transfer.learning_rate_decay", "transfer.seed",
         "train.threads", "train.mkl_intel_path"];
    public override IReadOnlyList<string>? Resumable(StageContext context) => ["transfer.epochs"];

    public override string? NotNeeded(StageContext context) =>
        context.Section<TransferParameters>().Enabled ? null : "transfer.enabled is false";

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var parameters = context.Section<TransferParameters>().AsTraining(context.Section<TrainParameters>());
        TrainingStage.Prepare(parameters, ArtifactStore.CacheFolder(context.Store.Root), workspace);

        string featurized = context.OutputOf(FeaturizeStage.Instance);
        var features = FeatureSet.Load(featurized, ["train", "validation"]);
        using var train = new FeatureExamples(features["train"]);
        using var validation = new FeatureExamples(features["validation"]);
        context.Log.Information("transfer: {Head} head on {Train:N0} × {Dim} features ({Size}×{Size} input), {Validation:N0} validation",
            parameters.Model, train.Count, features["train"].Dim, features.Manifest.InputSize, features.Manifest.InputSize, validation.Count);

        TrainingStage.Run(parameters, new TrainingData(train, validation, features.Manifest.Classes.Count, train.ExampleShape),
            features.Manifest.Classes, workspace, context.Log, context.Cancellation, Name, context.OnEpoch);

        // One file from raw pixels to classes: the backbone (with Featurize's preprocessing as graph ops), then the head.
        var m = features.Manifest;
        byte[] head = TrainingStage.Onnx(workspace, OnnxPreprocessing.Features($"{m.Backbone} features at {m.InputSize}×{m.InputSize}"));
        File.WriteAllBytes(workspace.PathOf(TrainingStage.OnnxFile),
            TransferGraph.Combine(File.ReadAllBytes(Path.Combine(featurized, m.Backbone)), m.Backbone, m.Channels, m.Rows, m.Columns, m.InputSize, head,
                Imaging.FramingStatistics.Load(context.OutputOf(Acquisition.VerifyStage.Instance))));
        return Task.CompletedTask;
    }
}
