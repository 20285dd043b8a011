using Cake.Core;
using Pipeline;
using Pipeline.Acquisition;
using Pipeline.Parameters;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// The typed context every task receives (like Frosting's FrostingContext, an adapter over Cake's context): Cake's
/// services plus the run's settings, parameters and artifact store.
/// </summary>
public sealed class PipelineContext(ICakeContext cake, PipelineSettings settings, ParameterSet parameterFile,
    PipelineParameters parameters, string root, Serilog.ILogger logger)
    : CakeContextAdapter(cake)
{
    public PipelineSettings Settings { get; } = settings;

    /// <summary>The parameters file with the command line's overrides applied.</summary>
    public ParameterSet ParameterFile { get; } = parameterFile;

    public PipelineParameters Parameters { get; } = parameters;

    /// <summary>The repository root: datasets/ and the default params.json live here.</summary>
    public string Root { get; } = root;

    /// <summary>The <c>--mirror</c>s in order, folders made absolute: every stage that fetches files tries them first.</summary>
    public IReadOnlyList<string> Mirrors => Settings.Mirrors.Select(m => Downloader.ResolveMirror(m)).ToList();

    public ArtifactStore Store { get; } = new(Path.GetFullPath(settings.Artifacts, root));

    public Serilog.ILogger Logger { get; } = logger;

    public RunReport Report { get; } = new();

    public CancellationToken Cancellation { get; init; }
}
