using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Evaluation;
using Pipeline.Search;

namespace Build.Host;

/// <summary>
/// A search as the command line (and <c>--search-file</c>) gives it: the sampler, the number of trials, the seed, the
/// space, the objectives and the pruner.
/// </summary>
public sealed record SearchOptions(string Sampler, int Trials, int Seed, SearchSpace Space, IReadOnlyList<Objective> Objectives, string? Prune)
{
    /// <summary>The keys a search file may hold; the options of the same names override them.</summary>
    public static readonly string[] FileKeys = ["search", "trials", "seed", "space", "objectives", "prune"];

    /// <summary>Null when no search is asked for; every mistake is a <see cref="UsageException"/> naming the option or the file's key.</summary>
    public static SearchOptions? Parse(string? sampler, IReadOnlyList<string> spaces, string? file, string? trials, string? seed,
        IReadOnlyList<string> objectives, string? prune)
    {
        try
        {
            return ParseChecked(sampler, spaces, file, trials, seed, objectives, prune);
        }
        catch (SearchException e)
        {
            throw new UsageException(e.Message);
        }
    }

    static SearchOptions? ParseChecked(string? sampler, IReadOnlyList<string> spaces, string? file, string? trials, string? seed,
        IReadOnlyList<string> objectives, string? prune)
    {
        var stored = file is null ? null : ReadFile(file);
        if (sampler is null && stored is null)
        {
            if (spaces.Count > 0 || trials is not null || seed is not null || objectives.Count > 0 || prune is not null)
                throw new UsageException("--space, --trials, --seed, --objective and --prune are options of a search: add --search=random|tpe (or --search-file=FILE)");
            return null;
        }
        string at = $"--search-file={file}";
        string? Text(string key) => stored?[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            JsonValue v => v.ToJsonString(),
            var other => throw new SearchException($"{at}: \"{key}\" must be a value, got {other.ToJsonString()}"),
        };

        sampler ??= Text("search") ?? throw new SearchException($"{at}: no \"search\" (random or tpe): give it there or as --search");
        sampler = sampler.ToLowerInvariant();
        if (!Samplers.Names.Contains(sampler))
            throw new SearchException($"--search={sampler}: expected one of {string.Join(", ", Samplers.Names)}");

        string trialsText = trials ?? Text("trials") ?? throw new SearchException("--search needs --trials=N (how many trials the study has)");
        if (!int.TryParse(trialsText, NumberStyles.None, CultureInfo.InvariantCulture, out int trialCount) || trialCount is < 1 or > 10_000)
            throw new SearchException($"--trials={trialsText}: expected a whole number from 1 to 10000");
        string seedText = seed ?? Text("seed") ?? "0";
        if (!int.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out int seedValue))
            throw new SearchException($"--seed={seedText}: expected a whole number ≥ 0");

        // The file's space, with any --space of the same key replacing its entry.
        var dimensions = new List<Dimension>();
        if (stored?["space"] is { } space)
            dimensions.AddRange(space is JsonObject o ? SearchSpace.FromJson(o, at).Dimensions
                : throw new SearchException($"{at}: \"space\" must be an object like {{\"train.learning_rate\": \"log(1e-4,1e-2)\"}}"));
        var given = spaces.Select(Dimension.Parse).ToList();
        dimensions.RemoveAll(d => given.Any(g => g.Key == d.Key));
        dimensions.AddRange(given);

        var objectiveTexts = objectives.Count > 0 ? objectives
            : stored?["objectives"] is { } listed ? (listed is JsonArray a && a.All(x => x is JsonValue v && v.TryGetValue(out string? _))
                ? [.. a.Select(x => x!.GetValue<string>())] : throw new SearchException($"{at}: \"objectives\" must be a list like [\"accuracy:max\"]"))
            : (IReadOnlyList<string>)[$"{MetricNames.Accuracy}:max"];
        var parsed = objectiveTexts.Select(Objective.Parse).ToList();
        if (parsed.GroupBy(o => o.Metric).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new SearchException($"--objective {twice.Key} is given more than once");

        prune ??= Text("prune");
        if (prune is not null)
        {
            prune = prune.ToLowerInvariant();
            Pruners.Create(prune);
            if (MetricNames.Validation(parsed[0].Metric) is null)
                throw new SearchException($"--prune={prune} prunes on the first objective, and {parsed[0].Metric} is not measured per epoch (accuracy and loss are): put one of them first");
        }
        return new SearchOptions(sampler, trialCount, seedValue, new SearchSpace(dimensions), parsed, prune);
    }

    static JsonObject ReadFile(string file)
    {
        string path = Path.GetFullPath(file);
        if (!File.Exists(path))
            throw new SearchException($"--search-file={file}: not found");
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new SearchException($"--search-file={file}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject obj)
            throw new SearchException($"--search-file={file}: expected a JSON object with {string.Join(", ", FileKeys)}");
        foreach (var (key, _) in obj)
            if (!FileKeys.Contains(key))
                throw new SearchException($"--search-file={file}: unknown key \"{key}\" (keys: {string.Join(", ", FileKeys)})");
        return obj;
    }
}
