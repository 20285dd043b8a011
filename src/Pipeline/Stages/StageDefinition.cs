using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// What the engine fingerprints: a stage's name (its output folder is <c>artifacts/&lt;name&gt;</c>), the parameter
/// values that shape its outputs, the hashes of the code that makes them, and its inputs. Anything that changes one
/// of these reruns the stage. <see cref="ResumeParameters"/>, when set, are the parameters without those whose change
/// lets a run continue from earlier outputs (e.g. the epoch count); the engine gives the run their fingerprint as
/// <see cref="StageWorkspace.ResumeKey"/>.
/// </summary>
public sealed record StageDefinition(string Name, JsonNode? Parameters, IReadOnlyDictionary<string, string> Code, IReadOnlyList<UpstreamInput> Inputs)
{
    public StageDefinition(string name, object? parameters, params UpstreamInput[] inputs)
        : this(name, CanonicalJson.ToNode(parameters), new SortedDictionary<string, string>(), inputs) { }

    public JsonNode? ResumeParameters { get; init; }

    public IEnumerable<string> Upstream => Inputs.Select(i => i.Stage);
}

/// <summary>Another stage's outputs; its recorded output hash stands for them, so nothing is hashed again.</summary>
public sealed record UpstreamInput(string Stage);
