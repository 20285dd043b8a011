namespace Pipeline.Stages;

/// <summary>
/// What a stage is, for the engine: a name (its output folder is <c>artifacts/&lt;name&gt;</c>), the version of its
/// implementation (bump it when the code changes what the stage produces), the parameters that shape its outputs,
/// and its inputs. Anything that changes one of these reruns the stage.
/// </summary>
public sealed record StageDefinition(string Name, int ImplementationVersion, object Parameters, IReadOnlyList<StageInput> Inputs)
{
    public StageDefinition(string name, int implementationVersion, object parameters, params StageInput[] inputs)
        : this(name, implementationVersion, parameters, (IReadOnlyList<StageInput>)inputs) { }

    public IEnumerable<string> Upstream => Inputs.OfType<UpstreamInput>().Select(i => i.Stage);
}

public abstract record StageInput(string Name);

/// <summary>A file outside <c>artifacts/</c>; its content hash is part of the fingerprint.</summary>
public sealed record FileInput(string Name, string Path) : StageInput(Name);

/// <summary>Another stage's outputs; its recorded output hash stands for them, so nothing is hashed again.</summary>
public sealed record UpstreamInput(string Stage) : StageInput(Stage);
