using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Features;

/// <summary>The Featurize stage for the engine: what it depends on, and how it makes its outputs.</summary>
public static class FeaturizeStage
{
    public const string Name = "featurize";

    /// <summary>
    /// Only the backbone's pin and the input size shape the features, with the verified images. Where the backbone comes
    /// from, the batch size and the threads do not rerun the stage, and neither does any other section (the classifier
    /// head's included).
    /// </summary>
    public static StageDefinition Define(FeaturizeParameters p) =>
        new(Name, 1, new { p.BackboneSha256, p.BackboneBytes, p.InputSize }, new UpstreamInput("verify"));

    /// <summary>Fetches and verifies the backbone (kept with the outputs, so a rerun reuses it), then featurizes every split.</summary>
    public static async Task<FeaturizeResult> ProduceAsync(FeaturizeParameters p, string root, string verifiedDirectory,
        StageWorkspace workspace, DownloadOptions download, IEnumerable<string> mirrors, ILogger log, CancellationToken cancellation = default)
    {
        string backbone = await BackboneSource.FetchAsync(p, root, workspace.Directory, [workspace.Leftover, workspace.Previous], download, mirrors, log, cancellation);
        using var featurizer = Featurizer.Load(backbone, p.Threads);
        var result = FeatureExtractor.Extract(VerifiedDataset.Load(verifiedDirectory), verifiedDirectory, featurizer, p.BackboneSha256,
            p.InputSize, p.BatchSize, workspace.Directory, log, (path, bytes) => workspace.Declare(path, bytes), cancellation);
        workspace.Metrics["images"] = result.Images;
        workspace.Metrics["seconds"] = Math.Round(result.Seconds, 2);
        workspace.Metrics["images_per_second"] = Math.Round(result.ImagesPerSecond);
        workspace.Metrics["preprocess_seconds"] = Math.Round(result.PreprocessSeconds, 2);
        workspace.Tools["onnxruntime"] = Featurizer.RuntimeVersion;
        return result;
    }
}
