using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// <c>artifacts/&lt;stage&gt;/stage.json</c>: written last, after every output, so its presence means the stage
/// completed. It carries everything needed to decide "up to date" and to reproduce the result.
/// </summary>
public sealed record StageRecord
{
    public const string FileName = "stage.json";

    public required string Stage { get; init; }
    public required string Fingerprint { get; init; }
    public required JsonNode? Parameters { get; init; }
    /// <summary>The hashes of the source files that shaped the outputs (see <see cref="CodeManifest"/>).</summary>
    public required SortedDictionary<string, string> Code { get; init; }
    public required SortedDictionary<string, string> Inputs { get; init; }
    public required List<OutputFile> Outputs { get; init; }
    public required string OutputHash { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required double DurationSeconds { get; init; }
    public required SortedDictionary<string, string> Tools { get; init; }
    public required SortedDictionary<string, JsonNode?> Metrics { get; init; }
    /// <summary>For resumable stages: the fingerprint without the resumable parameters (see <see cref="StageWorkspace.ResumeKey"/>).</summary>
    public string? ResumeKey { get; init; }

    public static StageRecord? TryRead(string stageDirectory)
    {
        string path = Path.Combine(stageDirectory, FileName);
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<StageRecord>(File.ReadAllText(path), CanonicalJson.Options);
        }
        catch (JsonException)
        {
            return null; // unreadable record: treated as absent, so the stage reruns
        }
    }

    /// <summary>The hash of every output's path, size and content: what downstream stages fingerprint.</summary>
    public static string HashOutputs(IEnumerable<OutputFile> outputs) =>
        ContentHash.OfText(CanonicalJson.Serialize(outputs.OrderBy(o => o.Path, StringComparer.Ordinal)
            .Select(o => new { o.Path, o.Size, o.Sha256 }).ToList()));
}

/// <summary>
/// One output file, relative to the stage folder with '/' separators. <see cref="Modified"/> (UTC ticks) is when it was
/// recorded: a file whose time still matches is trusted without reading it; any other is hashed again.
/// </summary>
[JsonConverter(typeof(OutputFileConverter))]
public sealed record OutputFile(string Path, long Size, string Sha256)
{
    public long Modified { get; init; }
}

/// <summary>
/// Reads and writes an output by hand: Export records 70,000 of them, and the no-op rerun reads them all, so the
/// reflection-based path (twice as slow) is not good enough here.
/// </summary>
sealed class OutputFileConverter : JsonConverter<OutputFile>
{
    public override OutputFile Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("an output must be an object");
        string? path = null, sha256 = null;
        long size = -1, modified = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("path"u8)) { reader.Read(); path = reader.GetString(); }
            else if (reader.ValueTextEquals("size"u8)) { reader.Read(); size = reader.GetInt64(); }
            else if (reader.ValueTextEquals("sha256"u8)) { reader.Read(); sha256 = reader.GetString(); }
            else if (reader.ValueTextEquals("modified"u8)) { reader.Read(); modified = reader.GetInt64(); }
            else { reader.Read(); reader.Skip(); }
        }
        if (path is null || sha256 is null || size < 0) throw new JsonException("an output needs path, size and sha256");
        return new OutputFile(path, size, sha256) { Modified = modified };
    }

    public override void Write(Utf8JsonWriter writer, OutputFile value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("modified"u8, value.Modified);
        writer.WriteString("path"u8, value.Path);
        writer.WriteString("sha256"u8, value.Sha256);
        writer.WriteNumber("size"u8, value.Size);
        writer.WriteEndObject();
    }
}
