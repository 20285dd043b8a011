using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// Where a running stage writes. <see cref="Directory"/> starts empty and becomes the stage's output folder only when
/// the stage succeeds. <see cref="Previous"/> (the last complete outputs) and <see cref="Leftover"/> (what a run that
/// was killed or failed had written) may be salvaged from, but their content must be checked before it is trusted.
/// </summary>
public sealed class StageWorkspace(string directory, string? previous, string? leftover)
{
    public string Directory { get; } = directory;
    public string? Previous { get; } = previous;
    public string? Leftover { get; } = leftover;

    /// <summary>Figures recorded with the stage (counts, accuracy, timings).</summary>
    public SortedDictionary<string, JsonNode?> Metrics { get; } = new(StringComparer.Ordinal);

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

    internal OutputFile? Declared(string relative) => declared.GetValueOrDefault(relative);
}
