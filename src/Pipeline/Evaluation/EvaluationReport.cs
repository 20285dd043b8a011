using System.Globalization;
using System.Text;

namespace Pipeline.Evaluation;

/// <summary>One epoch as the report shows it.</summary>
public sealed record EpochRow(int Epoch, double Loss, double Accuracy, double ValLoss, double ValAccuracy, double LearningRate);

/// <summary>A model's column in the side-by-side comparison.</summary>
public sealed record ModelResult(string Name, string Description, ClassificationMetrics Metrics);

/// <summary>Everything the Markdown report puts together.</summary>
public sealed record ReportContent(string Dataset, string Split, ModelResult Cnn, IReadOnlyList<EpochRow> Epochs, string ModelSummary,
    string TrainParametersJson, IReadOnlyDictionary<string, string> Versions, IReadOnlyList<ModelResult> Others);

/// <summary>
/// Writes <c>report.md</c>: headline numbers, curves, per-class scores, confusion matrix, mistakes, model and provenance.
/// Results only: durations differ run to run (and between a resumed run and a straight one), so they stay in the stage
/// records' metrics and the report of two runs that computed the same model is the same bytes.
/// </summary>
public static class EvaluationReport
{
    public const string BinaryAccuracyNote =
        "Binary accuracy is what Keras reports as \"accuracy\" for a model trained with sigmoid outputs and binary cross-entropy " +
        "(the reference's 98.6%): it scores each of the ten outputs separately against the one-hot label, so a model that " +
        "always answers \"no\" already scores 90%; categorical accuracy asks whether the highest output is the right class.";

    public static string Markdown(ReportContent content)
    {
        var m = content.Cnn.Metrics;
        var text = new StringBuilder();
        text.AppendLine($"# Evaluation: {content.Cnn.Name} on {content.Dataset}").AppendLine();
        text.AppendLine($"The `{content.Cnn.Name}` model ({content.Cnn.Description}) on the {content.Split} split ({m.Count:N0} images).").AppendLine();
        text.AppendLine("| metric | value |").AppendLine("|---|---|");
        text.AppendLine($"| categorical accuracy | **{Percent(m.Accuracy)}** ({m.Count - Errors(m):N0} of {m.Count:N0} right) |");
        text.AppendLine($"| binary accuracy (Keras \"accuracy\" under binary cross-entropy) | {Percent(m.BinaryAccuracy)} |");
        text.AppendLine($"| loss (softmax cross-entropy) | {m.Loss.ToString("0.0000", CultureInfo.InvariantCulture)} |");
        text.AppendLine($"| macro F1 | {m.MacroF1.ToString("0.0000", CultureInfo.InvariantCulture)} |").AppendLine();
        text.AppendLine(BinaryAccuracyNote + " The reference trained with sigmoid outputs and binary cross-entropy; this model is " +
            "trained on its logits with softmax cross-entropy, the loss that matches one label per image.").AppendLine();

        if (content.Others.Count > 0)
        {
            var models = new[] { content.Cnn }.Concat(content.Others).ToList();
            text.AppendLine("## Side by side").AppendLine();
            text.AppendLine("| | " + string.Join(" | ", models.Select(r => $"`{r.Name}`")) + " |");
            text.AppendLine("|---|" + string.Concat(models.Select(_ => "---|")));
            text.AppendLine("| accuracy | " + string.Join(" | ", models.Select(r => Percent(r.Metrics.Accuracy))) + " |");
            text.AppendLine("| macro F1 | " + string.Join(" | ", models.Select(r => r.Metrics.MacroF1.ToString("0.0000", CultureInfo.InvariantCulture))) + " |");
            for (int c = 0; c < m.Classes.Count; c++)
                text.AppendLine($"| F1 of {m.Classes[c].Class} | " + string.Join(" | ", models.Select(r => r.Metrics.Classes[c].F1.ToString("0.0000", CultureInfo.InvariantCulture))) + " |");
            text.AppendLine();
            foreach (var other in content.Others) text.AppendLine($"`{other.Name}`: {other.Description}.");
            text.AppendLine();
        }

        text.AppendLine("## Training").AppendLine().AppendLine("![training curves](curves.png)").AppendLine();
        text.AppendLine("| epoch | loss | accuracy | val_loss | val_accuracy | learning rate |").AppendLine("|---|---|---|---|---|---|");
        foreach (var e in content.Epochs)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {e.Epoch} | {e.Loss:0.0000} | {e.Accuracy:0.0000} | {e.ValLoss:0.0000} | {e.ValAccuracy:0.0000} | {e.LearningRate:0.######} |"));
        text.AppendLine();

        text.AppendLine("## Per class").AppendLine().AppendLine("| class | precision | recall | F1 | images |").AppendLine("|---|---|---|---|---|");
        foreach (var c in m.Classes)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {c.Class} | {c.Precision:0.0000} | {c.Recall:0.0000} | {c.F1:0.0000} | {c.Support:N0} |"));
        text.AppendLine();
        text.AppendLine("## Confusion matrix").AppendLine().AppendLine("Rows are the true class, columns the predicted one (colour on a log scale, so single mistakes show).").AppendLine();
        text.AppendLine("![confusion matrix](confusion.png)").AppendLine();
        text.AppendLine("## Misclassified test digits").AppendLine().AppendLine("Each caption reads true → predicted.").AppendLine();
        text.AppendLine("![misclassified digits](misclassified.png)").AppendLine();
        text.AppendLine("## Model").AppendLine().AppendLine("```").Append(content.ModelSummary.TrimEnd()).AppendLine().AppendLine("```").AppendLine();
        text.AppendLine("## Parameters").AppendLine().AppendLine("```json").AppendLine(content.TrainParametersJson.TrimEnd()).AppendLine("```").AppendLine();
        text.AppendLine("## Versions").AppendLine().AppendLine("| component | version |").AppendLine("|---|---|");
        foreach (var (name, version) in content.Versions) text.AppendLine($"| {name} | {version} |");
        return text.ToString();
    }

    static int Errors(ClassificationMetrics m) => m.Count - (int)Math.Round(m.Accuracy * m.Count);

    public static string Percent(double share) => (share * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";
}
