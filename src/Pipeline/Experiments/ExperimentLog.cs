using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Stages;

namespace Pipeline.Experiments;

/// <summary>
/// One full run of the pipeline: its id (a short hash of its stages' fingerprints, so the same inputs, parameters and
/// code give the same id), an optional name, when it ran, every parameter, its metrics, and the fingerprint of each
/// stage (the keys of its runs in the run cache).
/// </summary>
public sealed record Experiment(string Id, string? Name, DateTimeOffset Created, SortedDictionary<string, JsonNode?> Parameters,
    SortedDictionary<string, double?> Metrics, SortedDictionary<string, string> Stages)
{
    public static string IdOf(IReadOnlyDictionary<string, string> stageFingerprints) =>
        ContentHash.OfText(CanonicalJson.Serialize(new SortedDictionary<string, string>(stageFingerprints.ToDictionary(), StringComparer.Ordinal)))[..8];
}

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
    public IReadOnlyList<Experiment> All() => !Directory.Exists(Folder) ? []
        : [.. Directory.EnumerateFiles(Folder, "*.json").Select(Read).OfType<Experiment>().OrderByDescending(e => e.Created)];

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
