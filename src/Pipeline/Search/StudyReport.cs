using System.Globalization;
using System.Text.Json.Nodes;
using Pipeline.Evaluation;
using Pipeline.Stages;

namespace Pipeline.Search;

/// <summary>A study's trials best first (table, md, csv or json) and its plots; reads only the study's state.</summary>
public static class StudyReport
{
    public static string Render(Study study, string format)
    {
        var objectives = study.Objectives;
        var trials = study.BestFirst();
        var front = study.Front().Select(t => t.Number).ToHashSet();
        var space = study.Definition.Space.Keys.ToList();
        if (format == "json")
            return CanonicalJson.Serialize(new
            {
                Study = study.Name,
                study.Definition,
                Front = front.Order().ToList(),
                Trials = trials.Select(t => new
                {
                    t.Number, t.State, t.Epochs, t.Experiment, t.Reason, t.Log,
                    Parameters = space.ToDictionary(k => k, k => Parameter(t, k)),
                    Values = objectives.ToDictionary(o => o.Metric, o => t.Values.GetValueOrDefault(o.Metric)),
                }).ToList(),
            });

        string[] header = ["trial", "state", .. space, .. objectives.Select(o => o.ToString()), "epochs", "experiment", "note"];
        var rows = trials.Select(t => (string[])[t.Number.ToString(CultureInfo.InvariantCulture), t.State.ToString().ToLowerInvariant() + (front.Contains(t.Number) && objectives.Count > 1 ? " *" : ""),
            .. space.Select(k => Parameter(t, k)?.ToJsonString() ?? ""),
            .. objectives.Select(o => t.Values.GetValueOrDefault(o.Metric) is { } v ? Study.Number(v) : ""),
            t.Epochs.ToString(CultureInfo.InvariantCulture), t.Experiment ?? "", Note(t)]).ToList();
        string table = format switch
        {
            "csv" => string.Join("\n", new[] { header }.Concat(rows).Select(r => string.Join(",", r.Select(c => c.IndexOfAny([',', '"', '\n']) >= 0 ? $"\"{c.Replace("\"", "\"\"")}\"" : c)))),
            "md" => string.Join("\n", new[] { "| " + string.Join(" | ", header) + " |", "|" + string.Concat(header.Select(_ => "---|")) }
                .Concat(rows.Select(r => "| " + string.Join(" | ", r) + " |"))),
            _ => Aligned([header, .. rows]),
        };
        if (format != "table") return table;
        int count(TrialState s) => study.Trials.Count(t => t.State == s);
        string summary = $"Study {study.Name}: {study.Definition.Sampler}, seed {study.Definition.Seed}, {study.Trials.Count} trials " +
            $"({count(TrialState.Complete)} complete, {count(TrialState.Pruned)} pruned, {count(TrialState.Failed)} failed, {count(TrialState.Running)} running), " +
            $"{study.Trials.Sum(t => t.Epochs)} epochs trained in all" + (study.Definition.Prune is { } p ? $"; pruned by {p} on {objectives[0].Metric}'s per-epoch {MetricNames.Validation(objectives[0].Metric)}" : "");
        string frontLine = objectives.Count > 1 ? $"\nPareto front of {string.Join(", ", objectives)} (marked *): trials {string.Join(", ", front.Order())}" : "";
        return $"{summary}\n{table}{frontLine}";
    }

    static JsonNode? Parameter(TrialRecord t, string key) =>
        t.Assignments.FirstOrDefault(a => a.StartsWith(key + "=", StringComparison.Ordinal)) is { } a ? Parse(a[(key.Length + 1)..]) : null;

    static JsonNode? Parse(string text)
    {
        try { return JsonNode.Parse(text); }
        catch (System.Text.Json.JsonException) { return JsonValue.Create(text); }
    }

    static string Note(TrialRecord t) => t.State switch
    {
        TrialState.Failed => $"{t.Reason}{(t.Log is null ? "" : $" (log: {t.Log})")}",
        TrialState.Pruned => t.Reason ?? "",
        _ => "",
    };

    static string Aligned(IReadOnlyList<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var lines = rows.Select(r => string.Join("  ", r.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).ToList();
        lines.Insert(1, string.Join("  ", widths.Select(w => new string('-', w))));
        return string.Join("\n", lines);
    }

    /// <summary>
    /// Writes the study's plots beside its state: the first objective against the trial number (with the best so far),
    /// each parameter against it, and with two or more objectives the first two against each other, the front marked.
    /// Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> Plots(Study study)
    {
        var objectives = study.Objectives;
        var first = objectives[0];
        var done = study.Trials.Where(t => t.Values.GetValueOrDefault(first.Metric) is not null && t.State == TrialState.Complete).OrderBy(t => t.Number).ToList();
        if (done.Count == 0) return [];
        Directory.CreateDirectory(study.Folder);
        var written = new List<string>();
        void Write(string name, byte[] png)
        {
            string path = Path.Combine(study.Folder, name);
            File.WriteAllBytes(path, png);
            written.Add(path);
        }
        double Value(TrialRecord t, Objective o) => t.Values[o.Metric]!.Value;
        double bestSoFar = double.NaN;
        var best = done.Select(t => bestSoFar = double.IsNaN(bestSoFar) || first.Loss(Value(t, first)) < first.Loss(bestSoFar) ? Value(t, first) : bestSoFar).ToArray();
        Write("history.png", Charts.Scatter($"Study {study.Name}: {first} by trial", "trial", first.Metric,
            [new("complete trials", [.. done.Select(t => (double)t.Number)], [.. done.Select(t => Value(t, first))], Line: false),
             new("best so far", [.. done.Select(t => (double)t.Number)], best, Line: true)]));
        foreach (var (key, text) in study.Definition.Space)
        {
            var dimension = Dimension.Parse(key, text);
            var xs = done.Select(t => t.Point[study.Definition.Space.Keys.ToList().IndexOf(key)]).ToArray();
            Write($"parameter-{key}.png", Charts.Scatter($"{key} against {first.Metric}", key + (dimension.Kind == DimensionKind.Log ? " (log scale)" : ""), first.Metric,
                [new("complete trials", dimension.Kind == DimensionKind.Log ? [.. xs.Select(Math.Log10)] : xs, [.. done.Select(t => Value(t, first))], Line: false)],
                dimension.Kind == DimensionKind.Choice ? dimension.Choices.Select(c => c?.ToJsonString() ?? "null").ToList() : null,
                logX: dimension.Kind == DimensionKind.Log));
        }
        if (objectives.Count > 1)
        {
            var second = objectives[1];
            var both = done.Where(t => t.Values.GetValueOrDefault(second.Metric) is not null).ToList();
            var front = study.Front().Select(t => t.Number).ToHashSet();
            var onFront = both.Where(t => front.Contains(t.Number)).OrderBy(t => Value(t, second)).ToList();
            Write("pareto.png", Charts.Scatter($"Pareto front: {first} against {second}", second.Metric, first.Metric,
                [new("trials", [.. both.Select(t => Value(t, second))], [.. both.Select(t => Value(t, first))], Line: false),
                 new("Pareto front", [.. onFront.Select(t => Value(t, second))], [.. onFront.Select(t => Value(t, first))], Line: true)]));
        }
        return written;
    }
}
