using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Stages;

namespace Pipeline.Experiments;

/// <summary>
/// One full run of the pipeline: its id (a short hash of its stages' fingerprints, so the same inputs, parameters and
/// code give the same id), an optional name, when it ran, every parameter, its metrics, and the fingerprint of each
/// stage (the keys of its runs in the run cache); <paramref name="Outcomes"/>: what the run did with each stage (records
/// written before it was kept have none).
/// </summary>
public sealed record Experiment(string Id, string? Name, DateTimeOffset Created, SortedDictionary<string, JsonNode?> Parameters,
    SortedDictionary<string, double?> Metrics, SortedDictionary<string, string> Stages, SortedDictionary<string, StageOutcome>? Outcomes = null)
{
    public static string IdOf(IReadOnlyDictionary<string, string> stageFingerprints) =>
        ContentHash.OfText(CanonicalJson.Serialize(new SortedDictionary<string, string>(stageFingerprints.ToDictionary(), StringComparer.Ordinal)))[..8];
}

/// <summary>
/// What one run did with a stage: its result as the run's JSON report names it (executed, restored-local, up-to-date, …),
/// how long the task took, and the process's peak resident memory by the task's end (MB; null where not measured).
/// </summary>
public sealed record StageOutcome(string Result, double DurationSeconds, double? PeakRssMb);

/// <summary>The experiments of an artifacts folder, one JSON file each under <c>.cache/experiments/</c>.</summary>
public sealed class ExperimentLog(string folder)
{
    public string Folder { get; } = folder;

    /// <summary>Records a run; running the same experiment again keeps its name unless a new one is given.</summary>
    public Experiment Record(Experiment experiment)
    {
        Directory.CreateDirectory(Folder);
        string path = Path.Combine(Folder, experiment.Id + ".json");
        if (experiment.Name is null && Read(path)?.Name is { } earlier)
            experiment = experiment with { Name = earlier };
        CanonicalJson.WriteFile(path, experiment);
        return experiment;
    }

    /// <summary>Every experiment, newest first.</summary>
    public IReadOnlyList<Experiment> All() => Scan().Experiments;

    /// <summary>Every experiment, newest first, and the files that are not one (each with what is wrong).</summary>
    public (IReadOnlyList<Experiment> Experiments, IReadOnlyList<(string File, string Problem)> Damaged) Scan()
    {
        if (!Directory.Exists(Folder)) return ([], []);
        var experiments = new List<Experiment>();
        var damaged = new List<(string, string)>();
        foreach (var file in Directory.EnumerateFiles(Folder, "*.json"))
        {
            try
            {
                var experiment = JsonSerializer.Deserialize<Experiment>(File.ReadAllText(file), CanonicalJson.Options);
                if (experiment is { Id: not null, Parameters: not null, Metrics: not null, Stages: not null }) experiments.Add(experiment);
                else damaged.Add((file, "not an experiment record (id, parameters, metrics or stages missing)"));
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
            {
                damaged.Add((file, e.Message));
            }
        }
        return ([.. experiments.OrderByDescending(e => e.Created)], damaged);
    }

    /// <summary>The experiment with this id (or a unique prefix of it) or name; an unknown one is a clear error.</summary>
    public Experiment Find(string idOrName)
    {
        var all = All();
        var named = all.Where(e => e.Name == idOrName).ToList();
        if (named.Count > 0) return named[0];
        var byId = all.Where(e => e.Id.StartsWith(idOrName, StringComparison.OrdinalIgnoreCase)).ToList();
        return byId.Count switch
        {
            1 => byId[0],
            0 => throw new ExperimentException($"no experiment '{idOrName}' (experiments: {(all.Count == 0 ? "none yet" : string.Join(", ", all.Select(e => e.Name ?? e.Id)))})"),
            _ => throw new ExperimentException($"'{idOrName}' names {byId.Count} experiments ({string.Join(", ", byId.Select(e => e.Id))}): give more of the id"),
        };
    }

    static Experiment? Read(string path)
    {
        try { return File.Exists(path) ? JsonSerializer.Deserialize<Experiment>(File.ReadAllText(path), CanonicalJson.Options) : null; }
        catch (JsonException) { return null; }
    }
}

public sealed class ExperimentException(string message) : PipelineException(message);
