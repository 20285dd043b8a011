using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// Where a running stage writes. <see cref="Directory"/> starts empty and becomes the stage's output folder only when
/// the stage succeeds. <see cref="Previous"/> (the last complete outputs) and <see cref="Leftovers"/> (what runs that
/// were killed or failed had written, newest first) may be salvaged from, but their content must be checked before it
/// is trusted.
/// </summary>
public sealed class StageWorkspace(string directory, string? previous, IReadOnlyList<string> leftovers)
{
    public string Directory { get; } = directory;
    public string? Previous { get; } = previous;
    public IReadOnlyList<string> Leftovers { get; } = leftovers;

    /// <summary>Every folder a stage may salvage from: leftovers first (newest first), then the previous outputs.</summary>
    public IEnumerable<string> Salvage => Previous is null ? Leftovers : [.. Leftovers, Previous];

    /// <summary>
    /// For stages that can continue earlier work (<see cref="StageDefinition.ResumeParameters"/>): the fingerprint of
    /// everything but the resumable parameters. Earlier outputs made under the same key may be continued.
    /// </summary>
    public string? ResumeKey { get; init; }

    /// <summary>The record of <see cref="Previous"/>, if any: its outputs' hashes let a stage verify what it salvages.</summary>
    public StageRecord? PreviousRecord { get; init; }

    /// <summary>Figures recorded with the stage (counts, accuracy, timings): the record's, never an output.</summary>
    public SortedDictionary<string, JsonNode?> Metrics { get; } = new(StringComparer.Ordinal);

    /// <summary>A numeric metric's value (0 when absent or not a number).</summary>
    public double Metric(string name) => Number(Metrics.GetValueOrDefault(name)) ?? 0;

    /// <summary>A JSON number's value, or null.</summary>
    public static double? Number(JsonNode? node) =>
        node is JsonValue value && double.TryParse(value.ToJsonString(), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out double number) ? number : null;

    /// <summary>Versions of tools the stage used, beyond .NET and the OS (e.g. TorchSharp, libtorch).</summary>
    public SortedDictionary<string, string> Tools { get; } = new(StringComparer.Ordinal);

    public string PathOf(string relative) => System.IO.Path.Combine(Directory, relative);

    readonly System.Collections.Concurrent.ConcurrentDictionary<string, OutputFile> declared = new(StringComparer.Ordinal);

    /// <summary>
    /// Tells the engine the SHA-256 of an output the stage has just written from memory, so recording it does not read
    /// the file back. Thread-safe. A declared file whose size on disk differs is hashed from disk after all.
    /// </summary>
    public void Declare(string relative, ReadOnlySpan<byte> content) =>
        declared[relative] = new OutputFile(relative, content.Length, ContentHash.OfBytes(content));

    /// <summary>Tells the engine an output's size and SHA-256 known from elsewhere (a shard's record of the file moved in).</summary>
    public void Declare(OutputFile file) => declared[file.Path] = file;

    internal OutputFile? Declared(string relative) => declared.GetValueOrDefault(relative);
}
