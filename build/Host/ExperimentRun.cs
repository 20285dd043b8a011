using System.Text.Json.Nodes;
using Pipeline.Evaluation;
using Pipeline.Experiments;
using Pipeline.Stages;
using Pipeline.Training;

namespace Build.Host;

/// <summary>
/// What a full run records as its experiment: every parameter, the headline metrics, each stage's fingerprint and what
/// the run did with it.
/// </summary>
public static class ExperimentRun
{
    public static Experiment Of(PipelineContext context, IEnumerable<TaskInfo> tasks, string? name)
    {
        var stages = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var outcomes = new SortedDictionary<string, StageOutcome>(StringComparer.Ordinal);
        var entries = context.Report.Entries;
        foreach (var task in tasks.Where(t => t.Stage is { } s && context.WhyNotNeeded(s) is null))
        {
            stages[task.Stage!.Name] = context.Store.ReadRecord(task.Stage.Name)?.Fingerprint ?? "";
            if (entries.LastOrDefault(e => e.Task == task.Name) is { } entry)
                outcomes[task.Stage.Name] = new StageOutcome(RunReport.Name(entry.Outcome), Math.Round(entry.Duration.TotalSeconds, 3), entry.PeakRssMb);
        }
        var parameters = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (section, value) in context.Parameters.Sections())
            foreach (var (key, node) in (JsonObject)CanonicalJson.ToNode(value)!)
                parameters[$"{section}.{key}"] = node?.DeepClone();

        var metrics = new SortedDictionary<string, double?>(StringComparer.Ordinal);
        if (context.Store.ReadRecord(EvaluateStage.Instance.Name) is { } evaluated)
            foreach (var metric in MetricNames.Evaluated)
                metrics[metric] = evaluated.Metrics.GetValueOrDefault(metric)?.GetValue<double>();
        if (context.Store.ReadRecord(TrainStage.Instance.Name) is { } trained)
            metrics[MetricNames.TrainSeconds] = Math.Round(TrainingStage.Timings(trained).Sum(t => t.Seconds), 1);
        return new Experiment(Experiment.IdOf(stages), name, DateTimeOffset.UtcNow, parameters, metrics, stages, outcomes);
    }
}
