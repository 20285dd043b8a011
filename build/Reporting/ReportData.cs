using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Build.Host;
using Pipeline.Evaluation;
using Pipeline.Experiments;
using Pipeline.Stages;
using Pipeline.Training;

namespace Build.Reporting;

/// <summary>
/// What the web report shows, read from an artifacts folder; nothing runs. Every experiment (its parameters, metrics
/// and what its run did with each stage) and, where the run cache still holds its stages' records, its training
/// history, its test metrics (per class, confusion) and Evaluate's report, whose files are copied beside the page.
/// What is missing or damaged is named, never left out silently.
/// </summary>
public static class ReportData
{
    /// <summary>Where the copies of each run's report and images go, under the page's folder.</summary>
    public const string RunsFolder = "runs";

    /// <param name="page">the page's folder: the runs' reports and images are copied under its <see cref="RunsFolder"/></param>
    public static JsonObject Collect(string artifacts, string page)
    {
        var (experiments, damaged) = new ExperimentLog(PipelineHost.ExperimentsFolder(artifacts)).Scan();
        var cache = new RunCache(ArtifactStore.CacheFolder(artifacts), _ => { });
        string runs = Path.Combine(page, RunsFolder);
        if (Directory.Exists(runs)) Directory.Delete(runs, recursive: true);

        // Parameters equal in every experiment are sent once; each row carries only those that differ.
        var keys = experiments.SelectMany(e => e.Parameters.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var varying = keys.Where(k => experiments.Select(e => Text(e.Parameters.GetValueOrDefault(k))).Distinct().Count() > 1).ToList();
        var constants = new JsonObject();
        foreach (var key in keys.Except(varying)) constants[key] = experiments[0].Parameters.GetValueOrDefault(key)?.DeepClone();

        var rows = new JsonArray();
        var details = new JsonObject();
        foreach (var experiment in experiments)
        {
            var problems = new List<string>();
            var detail = Details(experiment, cache, Path.Combine(runs, experiment.Id), problems);
            var metrics = new JsonObject();
            foreach (var (name, value) in experiment.Metrics) metrics[name] = value;
            if (detail["best"] is JsonObject best)
            {
                metrics[MetricNames.BestValAccuracy] = best["val_accuracy"]?.DeepClone();
                metrics[MetricNames.BestValLoss] = best["val_loss"]?.DeepClone();
            }
            var parameters = new JsonObject();
            foreach (var key in varying) parameters[key] = experiment.Parameters.GetValueOrDefault(key)?.DeepClone();
            rows.Add(new JsonObject
            {
                ["id"] = experiment.Id,
                ["name"] = experiment.Name,
                ["created"] = experiment.Created.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                ["parameters"] = parameters,
                ["metrics"] = metrics,
                ["problems"] = new JsonArray([.. problems.Select(p => (JsonNode)p)]),
            });
            if (detail.Count > 0) details[experiment.Id] = detail;
        }

        string[] metricNames = [.. MetricNames.Experiment, MetricNames.BestValAccuracy, MetricNames.BestValLoss];
        return new JsonObject
        {
            ["artifacts"] = artifacts,
            ["generated"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture),
            ["metrics"] = new JsonArray([.. metricNames.Select(m => (JsonNode)new JsonObject
            {
                ["name"] = m,
                ["lower_is_better"] = MetricNames.LowerIsBetter(m),
                ["seconds"] = MetricNames.IsSeconds(m),
            })]),
            ["varying"] = new JsonArray([.. varying.Select(k => (JsonNode)k)]),
            ["constants"] = constants,
            ["runs"] = rows,
            ["damaged"] = new JsonArray([.. damaged.Select(d => (JsonNode)new JsonObject { ["file"] = d.File, ["problem"] = d.Problem })]),
            ["details"] = details,
        };
    }

    /// <summary>What the run cache still holds of one experiment; <paramref name="problems"/> gets what it lacks.</summary>
    static JsonObject Details(Experiment experiment, RunCache cache, string folder, List<string> problems)
    {
        var detail = new JsonObject();
        var stages = new JsonArray();
        // In the order the stages first ran (the pipeline's order); those the cache lost last.
        var found = experiment.Stages.Select(s => (Stage: s.Key, Fingerprint: s.Value, Record: s.Value.Length == 0 ? null : cache.Find(s.Value)))
            .OrderBy(s => s.Record is null).ThenBy(s => s.Record?.StartedAt).ToList();
        foreach (var (stage, fingerprint, record) in found)
        {
            var outcome = experiment.Outcomes?.GetValueOrDefault(stage);
            if (record is null) problems.Add($"the run cache no longer holds its {stage} run");
            stages.Add(new JsonObject
            {
                ["stage"] = stage,
                ["fingerprint"] = fingerprint.Length >= 12 ? fingerprint[..12] : fingerprint,
                ["result"] = outcome?.Result,
                ["duration_seconds"] = outcome?.DurationSeconds ?? record?.DurationSeconds,
                ["started"] = record?.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                ["peak_rss_mb"] = outcome?.PeakRssMb ?? record?.Metrics.GetValueOrDefault("peak_rss_mb")?.DeepClone(),
                ["recorded"] = record is not null,
            });
        }
        if (stages.Count > 0) detail["stages"] = stages;

        if (Output(experiment, TrainStage.Instance.Name, CheckpointedTraining.HistoryFile, cache, problems) is { } historyFile)
        {
            try
            {
                var history = CheckpointedTraining.ReadHistory(historyFile);
                detail["history"] = CanonicalJson.ToNode(history);
                if (history.Count > 0)
                {
                    var best = history.MaxBy(h => h.ValAccuracy)!;
                    detail["best"] = new JsonObject { ["val_accuracy"] = best.ValAccuracy, ["epoch"] = best.Epoch, ["val_loss"] = history.Min(h => h.ValLoss) };
                }
            }
            catch (Exception e) when (e is JsonException or StageException)
            {
                problems.Add($"its training history is damaged ({e.Message})");
            }
        }
        foreach (var (key, file) in new[] { ("test", MetricsFile.FileName), ("transfer", "transfer-metrics.json") })
        {
            bool wanted = key == "test" || experiment.Metrics.GetValueOrDefault(MetricNames.TransferAccuracy) is not null;
            if (!wanted || Output(experiment, EvaluateStage.Instance.Name, file, cache, problems) is not { } path) continue;
            try { detail[key] = JsonNode.Parse(File.ReadAllText(path)); }
            catch (JsonException e) { problems.Add($"its {file} is damaged ({e.Message})"); }
        }
        if (Output(experiment, EvaluateStage.Instance.Name, "report.md", cache, problems) is { } report)
        {
            // Evaluate's report as report.html beside its images; runs recorded before report.html existed get one too.
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "report.html"), ReportHtml.FromMarkdown(File.ReadAllText(report)));
            detail["report"] = $"{RunsFolder}/{experiment.Id}/report.html";
            foreach (var image in new[] { "curves.png", "confusion.png", "misclassified.png" })
                if (Output(experiment, EvaluateStage.Instance.Name, image, cache, problems) is { } png)
                    File.Copy(png, Path.Combine(folder, image), overwrite: true);
            if (File.Exists(Path.Combine(folder, "misclassified.png")))
                detail["gallery"] = $"{RunsFolder}/{experiment.Id}/misclassified.png";
        }
        return detail;
    }

    /// <summary>One output file of the experiment's run of a stage, checked against its hash; null (and a problem named) when the cache lacks it.</summary>
    static string? Output(Experiment experiment, string stage, string file, RunCache cache, List<string> problems)
    {
        if (!experiment.Stages.TryGetValue(stage, out var fingerprint) || cache.Find(fingerprint) is not { } record) return null;
        if (cache.Outputs(record) is not { } outputs || outputs.All(o => o.Path != file)) return null;
        var path = cache.ReadOutput(fingerprint, file);
        if (path is null) problems.Add($"its {stage} {file} is missing from the run cache or fails its hash");
        return path;
    }

    static string Text(JsonNode? value) => value?.ToJsonString(CanonicalJson.Options) ?? "null";

    /// <summary>
    /// What is training now in the artifacts folder: for each training stage at work in <c>.staging/</c>, its history so
    /// far (the working folder's <c>history.json</c>, else its newest complete checkpoint's). Only while a run holds the
    /// artifacts lock: a killed run's leftovers are not shown as running.
    /// </summary>
    public static JsonObject Live(string artifacts)
    {
        var live = new JsonObject { ["running"] = false, ["stages"] = new JsonArray() };
        string owner = Path.Combine(artifacts, ".lock.owner");
        string? holder = null;
        try { holder = File.Exists(owner) ? File.ReadAllText(owner).Trim() : null; }
        catch (IOException) { }
        if (holder is null || !Alive(holder)) return live;
        live["running"] = true;
        live["holder"] = holder;
        string staging = Path.Combine(artifacts, ".staging");
        if (!Directory.Exists(staging)) return live;
        foreach (var folder in Directory.EnumerateDirectories(staging).Where(f => !Path.GetFileName(f).Contains('.')).Order(StringComparer.Ordinal))
        {
            var candidates = new[] { Path.Combine(folder, CheckpointedTraining.HistoryFile) }.Concat(
                Directory.Exists(Path.Combine(folder, CheckpointedTraining.CheckpointsFolder))
                    ? Directory.EnumerateDirectories(Path.Combine(folder, CheckpointedTraining.CheckpointsFolder), "epoch-*")
                        .Where(u => !u.EndsWith(".partial", StringComparison.Ordinal)).Order(StringComparer.Ordinal).Reverse()
                        .Select(u => Path.Combine(u, CheckpointedTraining.HistoryFile))
                    : []);
            foreach (var file in candidates.Where(File.Exists))
            {
                try
                {
                    var history = CheckpointedTraining.ReadHistory(file);
                    ((JsonArray)live["stages"]!).Add(new JsonObject
                    {
                        ["stage"] = Path.GetFileName(folder),
                        ["history"] = CanonicalJson.ToNode(history),
                        ["updated"] = File.GetLastWriteTimeUtc(file).ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                    });
                    break;
                }
                catch (Exception e) when (e is JsonException or IOException or StageException) { } // being written: the next look reads it
            }
        }
        return live;
    }

    /// <summary>Whether the lock's holder ("pid N, since …") is a live process.</summary>
    static bool Alive(string holder)
    {
        var words = holder.Split(' ', ',');
        if (words.Length < 2 || words[0] != "pid" || !int.TryParse(words[1], out int pid)) return false;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }
    }
}
