using System.Text.Json;
using Pipeline.Stages;

namespace Pipeline.Evaluation;

/// <summary><c>metrics.json</c>: a model's scores on one split, for people, CI and the accuracy gate.</summary>
public sealed record MetricsFile(string Model, string Split, int Count, double Accuracy, double BinaryAccuracy, double Loss, double MacroF1,
    IReadOnlyList<ClassScores> Classes, int[][] Confusion)
{
    public const string FileName = "metrics.json";

    public static MetricsFile From(string model, string split, ClassificationMetrics m) =>
        new(model, split, m.Count, m.Accuracy, m.BinaryAccuracy, m.Loss, m.MacroF1, m.Classes, m.ConfusionRows());

    public void Save(string directory) => CanonicalJson.WriteFile(Path.Combine(directory, FileName), this);

    public static MetricsFile Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new StageException($"{path} not found: run the Evaluate stage first");
        return JsonSerializer.Deserialize<MetricsFile>(File.ReadAllText(path), CanonicalJson.Options) ?? throw new StageException($"{path}: empty");
    }
}

/// <summary>The CI gate: fails the build when test accuracy is below a threshold.</summary>
public static class AccuracyGate
{
    /// <returns>a line saying the gate passed, or null when there is no gate (threshold 0)</returns>
    public static string? Check(MetricsFile metrics, double minAccuracy, string source)
    {
        if (minAccuracy <= 0) return null;
        if (metrics.Accuracy < minAccuracy)
            throw new GateException($"test accuracy {EvaluationReport.Percent(metrics.Accuracy)} of model '{metrics.Model}' is below " +
                $"evaluate.min_accuracy {EvaluationReport.Percent(minAccuracy)} ({source})");
        return $"test accuracy {EvaluationReport.Percent(metrics.Accuracy)} ≥ evaluate.min_accuracy {EvaluationReport.Percent(minAccuracy)}";
    }
}

public sealed class GateException(string message) : PipelineException(message);
