using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Features;
using Pipeline.Imaging;
using Pipeline.Stages;
using Pipeline.Training;
using Pipeline.Training.Models;

namespace Build.Tasks;

[TaskName("Evaluate")]
[TaskDescription("Score the trained model on the test split: metrics.json, confusion matrix, curves, mistakes gallery, report.md; optional accuracy gate.")]
[IsDependentOn(typeof(TrainTask))]
[IsDependentOn(typeof(TransferTask))]
public sealed class EvaluateTask : StageTask
{
    // The gate (min_accuracy) is left out: changing it re-checks the recorded accuracy instead of evaluating again.
    public override StageDefinition Define(PipelineContext context) => context.Parameters.Transfer.Enabled
        ? new(StageName, 2, new { context.Parameters.Evaluate.GalleryImages }, new UpstreamInput("train"), new UpstreamInput("verify"),
            new UpstreamInput("transfer"), new UpstreamInput(FeaturizeStage.Name))
        : new(StageName, 2, new { context.Parameters.Evaluate.GalleryImages }, new UpstreamInput("train"), new UpstreamInput("verify"));

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var train = context.Parameters.Train;
        TorchRuntime.Initialize(train.Threads, train.MklIntelPath, Path.Combine(context.Store.Root, ".cache"));
        string verified = context.Store.StageDirectory("verify"), trained = context.Store.StageDirectory("train");
        var dataset = VerifiedDataset.Load(verified);
        var test = dataset.LoadSplit(verified, "test");
        var card = TrainedModel.Load(trained);
        using var network = card.Open(trained);
        float[] probabilities;
        using (var data = LabelledTensors.From(test)) probabilities = TrainedModel.Probabilities(network, data);
        var metrics = ClassificationMetrics.Compute(test.Labels, probabilities, dataset.Classes);
        MetricsFile.From(card.Model, test.Name, metrics).Save(workspace.Directory);

        var history = CheckpointedTraining.ReadHistory(Path.Combine(trained, CheckpointedTraining.HistoryFile));
        var timings = CheckpointedTraining.ReadTimings(Path.Combine(trained, CheckpointedTraining.TimingsFile)).ToDictionary(t => t.Epoch);
        File.WriteAllBytes(workspace.PathOf("curves.png"), Charts.TrainingCurves(history.Select(h => h.Epoch).ToList(),
            history.Select(h => h.Loss).ToList(), history.Select(h => h.ValLoss).ToList(), history.Select(h => h.Accuracy).ToList(), history.Select(h => h.ValAccuracy).ToList()));
        File.WriteAllBytes(workspace.PathOf("confusion.png"), Charts.ConfusionMatrix(metrics.Confusion, dataset.Classes));
        var predicted = Predictions.ArgMax(probabilities, dataset.Classes.Count);
        var mistakes = Enumerable.Range(0, test.Count).Where(i => predicted[i] != test.Labels[i]).Take(context.Parameters.Evaluate.GalleryImages)
            .Select(i => new Tile(test.Image(i).ToArray(), test.Columns, test.Rows, $"{dataset.Classes[test.Labels[i]]} → {dataset.Classes[predicted[i]]}")).ToList();
        File.WriteAllBytes(workspace.PathOf("misclassified.png"), ContactSheet.Render(mistakes, columns: 10, scale: 3));

        var record = context.Store.ReadRecord("train")!;
        var epochs = history.Select(h => new EpochRow(h.Epoch, h.Loss, h.Accuracy, h.ValLoss, h.ValAccuracy, h.LearningRate,
            timings.TryGetValue(h.Epoch, out var t) ? t.Seconds : null)).ToList();
        var cnn = new ModelResult(card.Model, ModelCatalog.Describe(card.Model), metrics, null, timings.Values.Sum(t => t.Seconds));
        var others = context.Parameters.Transfer.Enabled ? [EvaluateTransfer(context, test.Name, workspace)] : Array.Empty<ModelResult>();
        var report = new ReportContent(dataset.Name, test.Name, cnn, epochs, File.ReadAllText(Path.Combine(trained, "summary.txt")),
            CanonicalJson.Serialize(record.Parameters), record.Tools, others);
        File.WriteAllText(workspace.PathOf("report.md"), EvaluationReport.Markdown(report));

        context.Logger.Information("evaluate: {Model} on {Count:N0} test images: accuracy {Accuracy} (binary accuracy {Binary}), loss {Loss:0.0000}, macro F1 {F1:0.0000}; report {Report}",
            card.Model, metrics.Count, EvaluationReport.Percent(metrics.Accuracy), EvaluationReport.Percent(metrics.BinaryAccuracy), metrics.Loss, metrics.MacroF1,
            Path.Combine(context.Store.StageDirectory(StageName), "report.md"));
        workspace.Metrics["accuracy"] = metrics.Accuracy;
        workspace.Metrics["binary_accuracy"] = metrics.BinaryAccuracy;
        workspace.Metrics["loss"] = metrics.Loss;
        workspace.Metrics["macro_f1"] = metrics.MacroF1;
        return Task.CompletedTask;
    }

    /// <summary>The transfer model (backbone features + head) on the same split, for the side-by-side table.</summary>
    static ModelResult EvaluateTransfer(PipelineContext context, string split, StageWorkspace workspace)
    {
        string transfer = context.Store.StageDirectory("transfer"), featurized = context.Store.StageDirectory(FeaturizeStage.Name);
        var features = FeatureSet.Load(featurized, [split]);
        var card = TrainedModel.Load(transfer);
        using var head = card.Open(transfer);
        float[] probabilities;
        using (var data = LabelledTensors.FromFeatures(features[split].Features, features[split].Dim, features[split].Labels))
            probabilities = TrainedModel.Probabilities(head, data);
        var metrics = ClassificationMetrics.Compute(features[split].Labels, probabilities, features.Manifest.Classes);
        string name = $"mobilenetv2-{features.Manifest.InputSize}+{card.Model}";
        File.WriteAllText(workspace.PathOf("transfer-metrics.json"), CanonicalJson.Serialize(MetricsFile.From(name, split, metrics)));
        double featurizeSeconds = features.Manifest.Splits.Values.Sum(s => s.Seconds);
        double trainSeconds = CheckpointedTraining.ReadTimings(Path.Combine(transfer, CheckpointedTraining.TimingsFile)).Sum(t => t.Seconds);
        context.Logger.Information("evaluate: {Model} on {Count:N0} test images: accuracy {Accuracy}, macro F1 {F1:0.0000}",
            name, metrics.Count, EvaluationReport.Percent(metrics.Accuracy), metrics.MacroF1);
        workspace.Metrics["transfer_accuracy"] = metrics.Accuracy;
        return new ModelResult(name, $"MobileNetV2 (ImageNet, int8, ONNX) features of {features.Manifest.InputSize}×{features.Manifest.InputSize} inputs → {ModelCatalog.Describe(card.Model)}",
            metrics, featurizeSeconds, trainSeconds);
    }

    public override Task FinishAsync(PipelineContext context)
    {
        string folder = context.Store.StageDirectory(StageName);
        if (AccuracyGate.Check(MetricsFile.Load(folder), context.Parameters.Evaluate.MinAccuracy, Path.Combine(folder, MetricsFile.FileName)) is { } passed)
            context.Logger.Information("gate: {Passed}", passed);
        return Task.CompletedTask;
    }
}
