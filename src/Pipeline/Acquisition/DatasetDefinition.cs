using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// A dataset as data (<c>datasets/&lt;name&gt;.json</c>): its files with their pins (see <see cref="PinnedFile"/>),
/// the mirrors that serve them, its class names, and which files make each split. Fashion-MNIST or KMNIST ship the
/// same IDX files and need only a definition of their own. <see cref="Load"/> checks all of it, before any stage runs.
/// </summary>
public sealed partial record DatasetDefinition(
    string Name,
    string Title,
    IReadOnlyList<string> Mirrors,
    IReadOnlyList<string> Classes,
    SortedDictionary<string, SplitFiles> Splits,
    SortedDictionary<string, PinnedFile> Files)
{
    public const string FileName = "dataset.json";

    // A misspelt key (say "paylod") would otherwise be dropped without a word, and its pin with it.
    static readonly JsonSerializerOptions Strict = new(CanonicalJson.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Loads <paramref name="nameOrPath"/>: a path to a definition, or a name looked up in <paramref name="definitionsFolder"/>.</summary>
    public static DatasetDefinition Load(string nameOrPath, string definitionsFolder)
    {
        string path = nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? nameOrPath
            : Path.Combine(definitionsFolder, nameOrPath + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.Exists(definitionsFolder)
                ? Directory.EnumerateFiles(definitionsFolder, "*.json").Select(Path.GetFileNameWithoutExtension).Order().ToArray()
                : [];
            throw new DatasetException($"dataset '{nameOrPath}': no definition at {path} (known: {string.Join(", ", known)})");
        }
        DatasetDefinition? definition;
        try
        {
            definition = JsonSerializer.Deserialize<DatasetDefinition>(File.ReadAllText(path), Strict);
        }
        catch (JsonException e)
        {
            throw new DatasetException($"{path}: not a valid dataset definition ({e.Message})");
        }
        if (definition is null)
            throw new DatasetException($"{path}: empty dataset definition");
        definition.Validate(path);
        return definition;
    }

    void Validate(string source)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) problems.Add("name is empty");
        if (Mirrors is null || Mirrors.Any(string.IsNullOrWhiteSpace)) problems.Add("mirrors must be a list of URLs or folders, none empty");
        problems.AddRange(ClassNames.Problems(Classes));
        if (Splits is null || !Splits.ContainsKey("train") || !Splits.ContainsKey("test")) problems.Add("splits must name 'train' and 'test'");
        foreach (var (split, files) in Splits ?? [])
            foreach (var file in new[] { files?.Images, files?.Labels })
                if (file is null || Files is null || !Files.ContainsKey(file)) problems.Add($"split '{split}' names {file ?? "no file"}, which is not under files");
        foreach (var (file, pin) in Files ?? [])
        {
            if (!SafeFileName().IsMatch(file)) problems.Add($"file name '{file}' is not a plain file name");
            problems.AddRange(PinProblems(pin).Select(p => $"{file}: {p}"));
        }
        if (problems.Count > 0)
            throw new DatasetException($"{source}: {string.Join("; ", problems)}");
    }

    static IEnumerable<string> PinProblems(PinnedFile? pin)
    {
        if (pin is null || (pin.Sha256 is null && pin.Size is null && pin.Payload is null))
        {
            yield return "no pin: give size and sha256 (the file as served), a payload (its decompressed content), or both";
            yield break;
        }
        if ((pin.Sha256 is null) != (pin.Size is null))
            yield return "size and sha256 pin the file together: give both or neither";
        if (pin.Sha256 is not null && !Sha256Hex().IsMatch(pin.Sha256)) yield return "sha256 must be 64 lowercase hex digits";
        if (pin.Size < 0) yield return $"size must be ≥ 0, got {pin.Size}";
        if (pin.Payload is { } payload)
        {
            if (payload.Sha256 is null || !Sha256Hex().IsMatch(payload.Sha256)) yield return "payload.sha256 must be 64 lowercase hex digits";
            if (payload.Size < 0) yield return $"payload.size must be ≥ 0, got {payload.Size}";
        }
    }

    /// <summary>The environment variable that adds a mirror for this dataset, e.g. PIPELINE_MNIST_MIRROR.</summary>
    public string MirrorVariable => $"PIPELINE_{NonAlphanumeric().Replace(Name.ToUpperInvariant(), "_")}_MIRROR";

    // \z, not $: $ also matches before a final newline.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*\z")]
    private static partial Regex SafeFileName();

    [GeneratedRegex(@"^[0-9a-f]{64}\z")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex("[^A-Z0-9]+")]
    private static partial Regex NonAlphanumeric();
}

public sealed record SplitFiles(string Images, string Labels);

public sealed class DatasetException(string message) : PipelineException(message);
