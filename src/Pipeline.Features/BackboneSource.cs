using Pipeline.Acquisition;
using Serilog;

namespace Pipeline.Features;

/// <summary>
/// Gets the backbone file through the Download stage's machinery: mirrors in order (the run's <c>--mirror</c>s, <c>PIPELINE_MODELS_MIRROR</c>
/// first, then where <c>featurize.backbone</c> points), retries, resume, and a copy is kept only when its size and
/// SHA-256 match the pin.
/// </summary>
public static class BackboneSource
{
    /// <summary>A folder or URL that holds the backbone under its file name, tried before the parameter's location.</summary>
    public const string MirrorVariable = "PIPELINE_MODELS_MIRROR";

    /// <summary>Where to look, in order; relative paths in the parameter are taken from <paramref name="root"/>.</summary>
    public static IReadOnlyList<string> Mirrors(FeaturizeParameters parameters, string root, IEnumerable<string>? first = null)
    {
        var mirrors = new List<string>(first ?? []);
        if (Environment.GetEnvironmentVariable(MirrorVariable) is { Length: > 0 } env)
            mirrors.Add(Downloader.ResolveMirror(env));
        string backbone = parameters.Backbone;
        mirrors.Add(Downloader.IsRemote(backbone) ? backbone[..(backbone.LastIndexOf('/') + 1)]
            : Path.GetDirectoryName(Downloader.ResolveMirror(backbone, root))!);
        return mirrors;
    }

    /// <summary>Fetches the backbone into <paramref name="destination"/> (reusing a verified copy from <paramref name="salvage"/>) and returns its path.</summary>
    public static async Task<string> FetchAsync(FeaturizeParameters parameters, string root, string destination,
        IEnumerable<string?> salvage, DownloadOptions options, IEnumerable<string> mirrors, ILogger log, CancellationToken cancellation = default)
    {
        string name = FeaturizeParameters.BackboneFileName(parameters.Backbone);
        var pin = new PinnedFile(parameters.BackboneBytes, parameters.BackboneSha256);
        using var downloader = new Downloader(options, log);
        await downloader.FetchAllAsync(new Dictionary<string, PinnedFile> { [name] = pin }, Mirrors(parameters, root, mirrors), destination, salvage, cancellation);
        return Path.Combine(destination, name);
    }
}
