using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// <c>artifacts/&lt;stage&gt;/stage.json</c>: written last, after every output and the output list
/// (<see cref="OutputManifest"/>), so its presence means the stage completed. It carries everything needed to decide
/// "up to date" and to reproduce the result; it names its outputs only by the hash of their list, so every run can read
/// it cheaply however many files a stage writes.
/// </summary>
public sealed record StageRecord
{
    public const string FileName = "stage.json";

    /// <summary>
    /// The record's format: 2 keeps the output list in <see cref="OutputManifest"/>. Records without it (0) were written by
    /// earlier versions, which listed every output here: they are not read (the stage is restored or runs again).
    /// </summary>
    public const int CurrentFormat = 2;

    public int Format { get; init; }
    public required string Stage { get; init; }
    public required string Fingerprint { get; init; }
    public required JsonNode? Parameters { get; init; }
    /// <summary>The hashes of the source files that shaped the outputs (see <see cref="CodeManifest"/>).</summary>
    public required SortedDictionary<string, string> Code { get; init; }
    public required SortedDictionary<string, string> Inputs { get; init; }
    /// <summary>The SHA-256 of the output list (<see cref="OutputManifest"/>): what downstream stages fingerprint.</summary>
    public required string OutputHash { get; init; }
    public int OutputFiles { get; init; }
    public long OutputBytes { get; init; }
    /// <summary>The stage folder's files as last verified (<see cref="OutputManifest.Stamp"/>): while it matches, no file is read.</summary>
    public string? OutputStamp { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required double DurationSeconds { get; init; }
    public required SortedDictionary<string, string> Tools { get; init; }
    public required SortedDictionary<string, JsonNode?> Metrics { get; init; }
    /// <summary>For resumable stages: the fingerprint without the resumable parameters (see <see cref="StageWorkspace.ResumeKey"/>).</summary>
    public string? ResumeKey { get; init; }
    /// <summary>Only in the shared cache's copy: the packs that hold the run's small files (see <see cref="Pack"/>).</summary>
    public List<PackEntry>? Packs { get; init; }

    /// <summary>Written by this version: the output list is in <see cref="OutputManifest"/>, summed up here.</summary>
    [JsonIgnore]
    public bool IsCurrent => Format == CurrentFormat && OutputStamp is not null;

    /// <summary>Why a record this version does not read is passed over.</summary>
    public const string OlderFormat = "recorded by an earlier version of the pipeline (outputs listed in stage.json)";

    public static StageRecord? TryRead(string stageDirectory)
    {
        string path = Path.Combine(stageDirectory, FileName);
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<StageRecord>(File.ReadAllBytes(path), CanonicalJson.Options);
        }
        catch (JsonException)
        {
            return null; // unreadable record: treated as absent, so the stage reruns
        }
    }

    /// <summary>The hash of every output's path, size and content: the SHA-256 of their list (<see cref="OutputManifest"/>).</summary>
    public static string HashOutputs(IEnumerable<OutputFile> outputs) => ContentHash.OfBytes(OutputManifest.Serialize(outputs));
}

/// <summary>One output file, relative to the stage folder with '/' separators.</summary>
[JsonConverter(typeof(OutputFileConverter))]
public sealed record OutputFile(string Path, long Size, string Sha256);

/// <summary>One pack on the shared cache: <c>cas/&lt;sha256&gt;</c>, its size and how many files it holds.</summary>
public sealed record PackEntry(string Sha256, long Size, int Files);

/// <summary>
/// Reads and writes an output by hand, its keys in canonical order: Export lists 70,000 of them, and the reflection-based
/// path is twice as slow.
/// </summary>
sealed class OutputFileConverter : JsonConverter<OutputFile>
{
    public override OutputFile Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("an output must be an object");
        string? path = null, sha256 = null;
        long size = -1;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("path"u8)) { reader.Read(); path = reader.GetString(); }
            else if (reader.ValueTextEquals("size"u8)) { reader.Read(); size = reader.GetInt64(); }
            else if (reader.ValueTextEquals("sha256"u8)) { reader.Read(); sha256 = reader.GetString(); }
            else { reader.Read(); reader.Skip(); }
        }
        if (path is null || sha256 is null || size < 0) throw new JsonException("an output needs path, size and sha256");
        return new OutputFile(path, size, sha256);
    }

    public override void Write(Utf8JsonWriter writer, OutputFile value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("path"u8, value.Path);
        writer.WriteString("sha256"u8, value.Sha256);
        writer.WriteNumber("size"u8, value.Size);
        writer.WriteEndObject();
    }
}
