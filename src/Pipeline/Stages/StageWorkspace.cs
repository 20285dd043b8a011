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
}
