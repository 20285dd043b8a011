using Pipeline.Acquisition;
using Pipeline.Features;
using Pipeline.Imaging;
using Pipeline.Stages;
using Pipeline.Training;
using Pipeline.Training.Models;

namespace Pipeline.Evaluation;

/// <summary>Evaluate: the trained CNN (and the transfer model beside it) on the test split: metrics, charts, report.</summary>
public sealed class EvaluateStage : Stage<EvaluateStage>
{
    public override string Name => "evaluate";
    public override string Description =>
        "Score the trained model on the test split: metrics.json, confusion matrix, curves, mistakes gallery, report.md; optional accuracy gate.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance, TrainStage.Instance, FeaturizeStage.Instance, TransferStage.Instance];

    public override IEnumerable<Stage> Reads(StageContext context) =>
        WithTransfer(context) ? Upstream : [VerifyStage.Instance, TrainStage.Instance];

    static bool WithTransfer(StageContext context) => context.Section<TransferParameters>().Enabled;

    public override bool RunsAlone => true;
    // The gate (min_accuracy) is left out: changing it re-checks the recorded accuracy instead of evaluating again.
    public override IReadOnlyList<string> Shapes => ["evaluate.gallery_images", "train.threads", "train.mkl_intel_path"];
    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var train = context.Section<TrainParameters>();
        TorchRuntime.Initialize(train.Threads, train.MklIntelPath, ArtifactStore.CacheFolder(context.Store.Root));
        var (dataset, verified) = VerifyStage.Load(context);
        string trained = context.OutputOf(TrainStage.Instance);
        using var test = dataset.LoadSplit(verified, "test");
        var card = TrainedModel.Load(trained);
        using var network = card.Open(trained);
        // Scored by batch from disk: the metrics accumulate, only the gallery's first mistakes are kept.
        var accumulator = new ClassificationMetrics.Accumulator(dataset.Classes);
        int galleryImages = context.Section<EvaluateParameters>().GalleryImages;
        var mistakes = new List<(long Index, int Predicted)>();
        using (var data = new ImageExamples([test], owns: false))
            TrainedModel.Probabilities(network, data, (probabilities, batch) =>
            {
                var labels = test.Labels.AsSpan(checked((int)batch.Start), batch.Count);
                var predicted = accumulator.Add(labels, probabilities);
                for (int i = 0; i < predicted.Length && mistakes.Count < galleryImages; i++)
                    if (predicted[i] != labels[i]) mistakes.Add((batch.Start + i, predicted[i]));
            });
        var metrics = accumulator.Result();
        MetricsFile.From(card.Model, test.Name, metrics).Save(workspace.Directory);

        var history = CheckpointedTraining.ReadHistory(Path.Combine(trained, CheckpointedTraining.HistoryFile));
        var record = context.RecordOf(TrainStage.Instance);
        File.WriteAllBytes(workspace.PathOf("curves.png"), Charts.TrainingCurves(history.Select(h => h.Epoch).ToList(),
            history.Select(h => h.Loss).ToList(), history.Select(h => h.ValLoss).ToList(), history.Select(h => h.Accuracy).ToList(), history.Select(h => h.ValAccuracy).ToList()));
        File.WriteAllBytes(workspace.PathOf("confusion.png"), Charts.ConfusionMatrix(metrics.Confusion, dataset.Classes));
        var tiles = mistakes.Select(m => Tile.Of(test, m.Index, $"{dataset.Classes[test.Labels[m.Index]]} → {dataset.Classes[m.Predicted]}")).ToList();
        File.WriteAllBytes(workspace.PathOf("misclassified.png"), ContactSheet.Render(tiles, columns: 10, scale: 3));

        var epochs = history.Select(h => new EpochRow(h.Epoch, h.Loss, h.Accuracy, h.ValLoss, h.ValAccuracy, h.LearningRate)).ToList();
        var cnn = new ModelResult(card.Model, ModelCatalog.Describe(card.Model), metrics);
        var others = WithTransfer(context) ? [EvaluateTransfer(context, test.Name, workspace)] : Array.Empty<ModelResult>();
        var report = new ReportContent(dataset.Name, test.Name, cnn, epochs, File.ReadAllText(Path.Combine(trained, "summary.txt")),
            CanonicalJson.Serialize(record.Parameters), record.Tools, others);
        File.WriteAllText(workspace.PathOf("report.md"), EvaluationReport.Markdown(report));

        context.Log.Information("evaluate: {Model} on {Count:N0} test images: accuracy {Accuracy} (binary accuracy {Binary}), loss {Loss:0.0000}, macro F1 {F1:0.0000}; report {Report}",
            card.Model, metrics.Count, EvaluationReport.Percent(metrics.Accuracy), EvaluationReport.Percent(metrics.BinaryAccuracy), metrics.Loss, metrics.MacroF1,
            Path.Combine(context.OutputOf(this), "report.md"));
        workspace.Metrics[MetricNames.Accuracy] = metrics.Accuracy;
        workspace.Metrics[MetricNames.BinaryAccuracy] = metrics.BinaryAccuracy;
        workspace.Metrics[MetricNames.Loss] = metrics.Loss;
        workspace.Metrics[MetricNames.MacroF1] = metrics.MacroF1;
        return Task.CompletedTask;
    }

    /// <summary>The transfer model (backbone features + head) on the same split, for the side-by-side table.</summary>
    static ModelResult EvaluateTransfer(StageContext context, string split, StageWorkspace workspace)
    {
        string transfer = context.OutputOf(TransferStage.Instance), featurized = context.OutputOf(FeaturizeStage.Instance);
        var features = FeatureSet.Load(featurized, [split]);
        var card = TrainedModel.Load(transfer);
        using var head = card.Open(transfer);
        var accumulator = new ClassificationMetrics.Accumulator(features.Manifest.Classes);
        using (var data = new FeatureExamples(features[split]))
            TrainedModel.Probabilities(head, data, (probabilities, batch) =>
                accumulator.Add(features[split].Labels.AsSpan(checked((int)batch.Start), batch.Count), probabilities));
        var metrics = accumulator.Result();
        var m = features.Manifest;
        string name = $"{Path.GetFileNameWithoutExtension(m.Backbone)}-{m.InputSize}+{card.Model}";
        File.WriteAllText(workspace.PathOf("transfer-metrics.json"), CanonicalJson.Serialize(MetricsFile.From(name, split, metrics)));
        context.Log.Information("evaluate: {Model} on {Count:N0} test images: accuracy {Accuracy}, macro F1 {F1:0.0000}",
            name, metrics.Count, EvaluationReport.Percent(metrics.Accuracy), metrics.MacroF1);
        workspace.Metrics[MetricNames.TransferAccuracy] = metrics.Accuracy;
        return new ModelResult(name, $"{m.Backbone}'s pooled features ({m.Dim}-d) of {m.InputSize}×{m.InputSize} inputs → {ModelCatalog.Describe(card.Model)}",
            metrics);
    }

    public override void Finish(StageContext context)
    {
        string folder = context.OutputOf(this);
        if (AccuracyGate.Check(MetricsFile.Load(folder), context.Section<EvaluateParameters>().MinAccuracy, Path.Combine(folder, MetricsFile.FileName)) is { } passed)
            context.Log.Information("gate: {Passed}", passed);
    }
}
