using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// A dataset as data (<c>datasets/&lt;name&gt;.json</c>). Kind <c>idx</c> (the default): its files with their pins (see
/// <see cref="PinnedFile"/>), the mirrors that serve them, its class names, and which files make each split; Fashion-MNIST
/// or KMNIST ship the same IDX files and need only a definition of their own. Kind <c>folder</c>: a folder of image files,
/// one subfolder per class, at a local <see cref="Path"/> or in a pinned <see cref="Archive"/>, brought to
/// <see cref="Channels"/> × <see cref="ImageSize"/> × <see cref="ImageSize"/>. <see cref="Load"/> checks all of it, before
/// any stage runs, and fills in the folder defaults, so a recorded definition states every value used.
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

    public const string FolderKind = "folder";

    /// <summary>Null or "idx" for IDX files, "folder" for a folder of images.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Kind { get; init; }

    [JsonIgnore] public bool IsFolder => Kind == FolderKind;

    /// <summary>Folder: the local folder (absolute once loaded: a relative one is relative to the definition's folder).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Path { get; init; }

    /// <summary>Folder: instead of a path, a pinned .zip or .tar.gz to fetch and extract.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ArchivePin? Archive { get; init; }

    /// <summary>Folder: 1 (gray, PIL's "L") or 3 (RGB).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Channels { get; init; }

    /// <summary>Folder: every image becomes ImageSize × ImageSize pixels.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? ImageSize { get; init; }

    /// <summary>Folder: "crop" (shorter side to ImageSize, centre crop) or "pad" (longer side to ImageSize, padded).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Resize { get; init; }

    /// <summary>Folder: the value (0–255, every channel) that "pad" fills with.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Background { get; init; }

    /// <summary>Folder: "folders" (top-level train/, test/ and optionally validation/), "hash" (drawn from each path's hash) or "auto".</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? SplitBy { get; init; }

    /// <summary>Folder: the share of files each split gets where it is drawn from the path hash.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public SortedDictionary<string, double>? SplitFractions { get; init; }

    // A misspelt key (say "paylod") would otherwise be dropped without a word, and its pin with it.
    static readonly JsonSerializerOptions Strict = new(CanonicalJson.Options) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Loads <paramref name="nameOrPath"/>: a path to a definition, or a name looked up in <paramref name="definitionsFolder"/>.</summary>
    public static DatasetDefinition Load(string nameOrPath, string definitionsFolder)
    {
        string path = nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? nameOrPath
            : System.IO.Path.Combine(definitionsFolder, nameOrPath + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.Exists(definitionsFolder)
                ? Directory.EnumerateFiles(definitionsFolder, "*.json").Select(System.IO.Path.GetFileNameWithoutExtension).Order().ToArray()
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
        if (definition.IsFolder)
            return definition.ValidateFolder(path);
        definition.Validate(path);
        return definition;
    }

    void Validate(string source)
    {
        var problems = new List<string>();
        if (Kind is not (null or "idx")) problems.Add($"kind must be \"idx\" (the default) or \"{FolderKind}\", got \"{Kind}\"");
        foreach (var (key, set) in FolderOnly)
            if (set) problems.Add($"{key} is for kind \"{FolderKind}\" only");
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

    (string Key, bool Set)[] FolderOnly =>
        [("path", Path is not null), ("archive", Archive is not null), ("channels", Channels is not null), ("image_size", ImageSize is not null),
         ("resize", Resize is not null), ("background", Background is not null), ("split_by", SplitBy is not null), ("split_fractions", SplitFractions is not null)];

    public static readonly IReadOnlyList<string> SplitModes = ["auto", "folders", "hash"];
    public static readonly IReadOnlyList<string> ResizeModes = ["crop", "pad"];

    /// <summary>Checks a folder definition and returns it with every default filled in and its path made absolute.</summary>
    DatasetDefinition ValidateFolder(string source)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) problems.Add("name is empty");
        if (Files is not null) problems.Add("files is for kind \"idx\" only (a folder dataset's files are the folder's)");
        if (Splits is not null) problems.Add("splits is for kind \"idx\" only (a folder dataset says split_by and split_fractions)");
        if ((Path is null) == (Archive is null)) problems.Add("give path (a local folder) or archive (a pinned .zip or .tar.gz), not both or neither");
        if (Path is not null && string.IsNullOrWhiteSpace(Path)) problems.Add("path is empty");
        if (Archive is not null) problems.AddRange(Archive.Problems().Select(p => $"archive: {p}"));
        if (Mirrors is not null && Mirrors.Any(string.IsNullOrWhiteSpace)) problems.Add("mirrors must be a list of URLs or folders, none empty");
        if (Classes is not null) problems.AddRange(ClassNames.Problems(Classes));
        if (Channels is null) problems.Add("channels is required (1 gray or 3 RGB)");
        else if (Channels is not (1 or 3)) problems.Add($"channels must be 1 (gray) or 3 (RGB), got {Channels}");
        if (ImageSize is null) problems.Add("image_size is required (the side in pixels every image is brought to)");
        else if (ImageSize is < 8 or > 1024) problems.Add($"image_size must be between 8 and 1024, got {ImageSize}");
        if (Resize is not null && !ResizeModes.Contains(Resize)) problems.Add($"resize must be \"crop\" or \"pad\", got \"{Resize}\"");
        if (Background is < 0 or > 255) problems.Add($"background must be between 0 and 255, got {Background}");
        if (SplitBy is not null && !SplitModes.Contains(SplitBy)) problems.Add($"split_by must be \"auto\", \"folders\" or \"hash\", got \"{SplitBy}\"");
        if (SplitFractions is not null)
        {
            var unknown = SplitFractions.Keys.Except(VerifiedDataset.SplitOrder).ToList();
            if (unknown.Count > 0) problems.Add($"split_fractions: unknown split {string.Join(", ", unknown)} (splits: train, validation, test)");
            foreach (var split in VerifiedDataset.SplitOrder)
                if (!SplitFractions.TryGetValue(split, out double f)) problems.Add($"split_fractions: {split} is missing (give train, validation and test)");
                else if (!(f > 0 && f < 1)) problems.Add($"split_fractions: {split} must be between 0 and 1 (exclusive), got {f}");
            if (Math.Abs(SplitFractions.Values.Sum() - 1) > 1e-9) problems.Add($"split_fractions must sum to 1, got {SplitFractions.Values.Sum()}");
        }
        if (problems.Count > 0)
            throw new DatasetException($"{source}: {string.Join("; ", problems)}");
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(source))!;
        return this with
        {
            Title = Title ?? Name,
            Mirrors = Mirrors ?? [],
            Path = Path is null ? null : System.IO.Path.GetFullPath(Path, folder),
            // An archive URL that is a path (no http(s)) is relative to the definition's folder too.
            Archive = Archive is null || Downloader.IsRemote(Archive.Url) ? Archive : Archive with { Url = Downloader.ResolveMirror(Archive.Url, folder) },
            Resize = Resize ?? "crop",
            Background = Background ?? 0,
            SplitBy = SplitBy ?? "auto",
            SplitFractions = SplitFractions ?? new(StringComparer.Ordinal) { ["train"] = 0.8, ["validation"] = 0.1, ["test"] = 0.1 },
        };
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
    internal static partial Regex Sha256Hex();

    [GeneratedRegex("[^A-Z0-9]+")]
    private static partial Regex NonAlphanumeric();
}

public sealed record SplitFiles(string Images, string Labels);

/// <summary>
/// A folder dataset's archive: where it is served (the last part of the URL is its file name, which <c>--mirror</c>
/// folders and the definition's <c>mirrors</c> are asked for too) and its pin.
/// </summary>
public sealed record ArchivePin(string Url, long Size, string Sha256)
{
    public static readonly IReadOnlyList<string> Endings = [".zip", ".tar.gz", ".tgz"];

    /// <summary>The archive's file name: the URL's last part.</summary>
    [JsonIgnore] public string FileName => Url[(Url.TrimEnd('/').LastIndexOfAny(['/', '\\']) + 1)..];

    /// <summary>The URL without the file name: the mirror it names.</summary>
    [JsonIgnore] public string Folder => Url[..^FileName.Length];

    [JsonIgnore] public PinnedFile Pin => new(Size, Sha256);

    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(Url) || FileName.Length == 0) yield return "url must name the archive file (e.g. https://example.org/clothes.zip)";
        else if (!Endings.Any(e => FileName.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            yield return $"'{FileName}' is not a .zip, .tar.gz or .tgz file";
        if (Sha256 is null || !DatasetDefinition.Sha256Hex().IsMatch(Sha256)) yield return "sha256 must be 64 lowercase hex digits";
        if (Size <= 0) yield return $"size must be > 0, got {Size}";
    }
}

public sealed class DatasetException(string message) : PipelineException(message);
