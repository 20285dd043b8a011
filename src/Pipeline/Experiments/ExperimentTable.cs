using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Pipeline.Evaluation;
using Pipeline.Stages;

namespace Pipeline.Experiments;

/// <summary>
/// Experiments side by side (like <c>dvc exp show</c>) and two of them compared (like <c>dvc exp diff</c>). Both read
/// only what the records hold: nothing runs.
/// </summary>
public static class ExperimentTable
{
    public static readonly string[] Formats = ["table", "md", "csv", "json"];

    /// <summary>The metrics shown, in order; an experiment may lack some (e.g. no transfer model).</summary>
    public static IReadOnlyList<string> Metrics => MetricNames.Experiment;

    /// <summary>
    /// One row per experiment: id, name, when, the parameters whose values differ between the rows (or all of them),
    /// and the metrics; sorted by <paramref name="sortBy"/> (best first: lowest for loss and seconds) or newest first.
    /// </summary>
    public static string Render(IReadOnlyList<Experiment> experiments, string format = "table", string? sortBy = null, bool allParameters = false)
    {
        if (!Formats.Contains(format))
            throw new ExperimentException($"--format={format}: expected one of {string.Join(", ", Formats)}");
        if (sortBy is not null && !Metrics.Contains(sortBy))
            throw new ExperimentException($"--sort-by={sortBy}: expected one of {string.Join(", ", Metrics)}");
        var rows = sortBy is null ? experiments
            : LowerIsBetter(sortBy) ? [.. experiments.OrderBy(e => e.Metrics.GetValueOrDefault(sortBy) ?? double.MaxValue)]
            : [.. experiments.OrderByDescending(e => e.Metrics.GetValueOrDefault(sortBy) ?? double.MinValue)];
        var keys = rows.SelectMany(e => e.Parameters.Keys).Distinct().Order(StringComparer.Ordinal)
            .Where(k => allParameters || rows.Select(e => Show(e.Parameters.GetValueOrDefault(k))).Distinct().Count() > 1).ToList();
        var metrics = Metrics.Where(m => rows.Any(e => e.Metrics.GetValueOrDefault(m) is not null)).ToList();

        if (format == "json")
            return CanonicalJson.Serialize(rows.Select(e => new
            {
                e.Id, e.Name, e.Created,
                Parameters = keys.ToDictionary(k => k, k => e.Parameters.GetValueOrDefault(k)?.DeepClone()),
                Metrics = metrics.ToDictionary(m => m, m => e.Metrics.GetValueOrDefault(m)),
            }).ToList());

        string[] header = ["id", "name", "when", .. keys, .. metrics];
        var cells = rows.Select(e => (string[])[e.Id, e.Name ?? "", e.Created.ToUniversalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            .. keys.Select(k => Show(e.Parameters.GetValueOrDefault(k))), .. metrics.Select(m => Number(m, e.Metrics.GetValueOrDefault(m)))]).ToList();
        return format switch
        {
            "csv" => string.Join("\n", new[] { header }.Concat(cells).Select(r => string.Join(",", r.Select(Csv)))),
            "md" => string.Join("\n", new[] { "| " + string.Join(" | ", header) + " |", "|" + string.Concat(header.Select(_ => "---|")) }
                .Concat(cells.Select(r => "| " + string.Join(" | ", r) + " |"))),
            _ => Aligned([header, .. cells]),
        };
    }

    /// <summary>The parameters that differ and every metric with its change, from <paramref name="a"/> to <paramref name="b"/>: as JSON.</summary>
    public static string DiffJson(Experiment a, Experiment b) => CanonicalJson.Serialize(new
    {
        A = new { a.Id, a.Name },
        B = new { b.Id, b.Name },
        Parameters = a.Parameters.Keys.Union(b.Parameters.Keys).Order(StringComparer.Ordinal)
            .Where(k => Show(a.Parameters.GetValueOrDefault(k)) != Show(b.Parameters.GetValueOrDefault(k)))
            .ToDictionary(k => k, k => new { A = a.Parameters.GetValueOrDefault(k)?.DeepClone(), B = b.Parameters.GetValueOrDefault(k)?.DeepClone() }),
        Metrics = Metrics.Where(m => a.Metrics.GetValueOrDefault(m) is not null || b.Metrics.GetValueOrDefault(m) is not null)
            .ToDictionary(m => m, m => new { A = a.Metrics.GetValueOrDefault(m), B = b.Metrics.GetValueOrDefault(m) }),
    });

    /// <summary>The parameters that differ and every metric with its change, from <paramref name="a"/> to <paramref name="b"/>.</summary>
    public static string Diff(Experiment a, Experiment b)
    {
        string A = a.Name ?? a.Id, B = b.Name ?? b.Id;
        var text = new StringBuilder();
        var parameters = a.Parameters.Keys.Union(b.Parameters.Keys).Order(StringComparer.Ordinal)
            .Select(k => (k, Show(a.Parameters.GetValueOrDefault(k)), Show(b.Parameters.GetValueOrDefault(k)))).Where(p => p.Item2 != p.Item3).ToList();
        text.AppendLine(Aligned([["parameter", A, B], .. parameters.Select(p => new[] { p.k, p.Item2, p.Item3 })]));
        text.AppendLine();
        var metrics = Metrics.Where(m => a.Metrics.GetValueOrDefault(m) is not null || b.Metrics.GetValueOrDefault(m) is not null);
        text.Append(Aligned([["metric", A, B, "change"], .. metrics.Select(m =>
        {
            double? x = a.Metrics.GetValueOrDefault(m), y = b.Metrics.GetValueOrDefault(m);
            string change = x is { } p && y is { } q ? (q - p).ToString(MetricNames.IsSeconds(m) ? "+0.0;-0.0;0" : "+0.0000;-0.0000;0", CultureInfo.InvariantCulture) : "";
            return new[] { m, Number(m, x), Number(m, y), change };
        })]));
        return text.ToString();
    }

    static bool LowerIsBetter(string metric) => MetricNames.LowerIsBetter(metric);

    static string Show(JsonNode? value) => value switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => value.ToJsonString(CanonicalJson.Options),
    };

    static string Number(string metric, double? value) => value is not { } v ? ""
        : MetricNames.IsSeconds(metric) ? v.ToString("0.0", CultureInfo.InvariantCulture) : v.ToString("0.0000", CultureInfo.InvariantCulture);

    static string Csv(string cell) => cell.IndexOfAny([',', '"', '\n']) >= 0 ? $"\"{cell.Replace("\"", "\"\"")}\"" : cell;

    static string Aligned(IReadOnlyList<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var lines = rows.Select(r => string.Join("  ", r.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).ToList();
        lines.Insert(1, string.Join("  ", widths.Select(w => new string('-', w))));
        return string.Join("\n", lines);
    }
}
