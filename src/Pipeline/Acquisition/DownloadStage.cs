using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>Download: the dataset's pinned files from the first mirror that has a good copy, and its definition.</summary>
public sealed class DownloadStage : Stage<DownloadStage>
{
    public override string Name => "download";
    public override string Description => "Fetch the dataset's files from the first mirror that has a good copy (--mirror first).";
    public override IReadOnlyList<Stage> Upstream => [];
    // Only the pinned files shape the output (Pins): mirrors, retries and timeouts do not rerun the stage.
    public override IReadOnlyList<string> Shapes => [];
    public override IReadOnlyList<string> Code =>
        ["src/Pipeline/Acquisition/Download*.cs", "src/Pipeline/Acquisition/DatasetDefinition.cs", "src/Pipeline/Acquisition/PinnedFile.cs",
         "src/Pipeline/Acquisition/ClassNames.cs", "src/Pipeline/Acquisition/FileSniffer.cs"];

    public static DatasetDefinition Dataset(StageContext context) =>
        DatasetDefinition.Load(context.Section<DownloadParameters>().Dataset, Path.Combine(context.Root, "datasets"));

    public override object? Pins(StageContext context) => Dataset(context) is var dataset ? new { dataset.Name, dataset.Files } : null;

    public override async Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var dataset = Dataset(context);
        var mirrors = context.Mirrors
            .Concat(Environment.GetEnvironmentVariable(dataset.MirrorVariable) is { Length: > 0 } env ? [Downloader.ResolveMirror(env)] : [])
            .Concat(dataset.Mirrors)
            .ToList();
        using var downloader = new Downloader(context.Section<DownloadParameters>().Options, context.Log);
        try
        {
            await downloader.FetchAllAsync(dataset.Files, mirrors, workspace.Directory, workspace.Salvage, context.Cancellation);
        }
        catch (DownloadException e)
        {
            throw new DownloadException($"{e.Message}\nTo run from local copies of the files: ./build.sh --mirror=FOLDER (or {dataset.MirrorVariable}=FOLDER).");
        }
        CanonicalJson.WriteFile(workspace.PathOf(DatasetDefinition.FileName), dataset);
        workspace.Metrics["files"] = dataset.Files.Count;
        workspace.Metrics["bytes"] = dataset.Files.Keys.Sum(name => new FileInfo(workspace.PathOf(name)).Length);
    }

    /// <summary>The definition as Download recorded it with its files.</summary>
    public static DatasetDefinition Recorded(StageContext context) =>
        System.Text.Json.JsonSerializer.Deserialize<DatasetDefinition>(
            File.ReadAllText(Path.Combine(context.OutputOf(Instance), DatasetDefinition.FileName)), CanonicalJson.Options)!;
}
