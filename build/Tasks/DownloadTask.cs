using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Download")]
[TaskDescription("Fetch the dataset's files from the first mirror that has a good copy (--mirror first).")]
public sealed class DownloadTask : StageTask
{
    DatasetDefinition Dataset(PipelineContext context) =>
        DatasetDefinition.Load(context.Parameters.Download.Dataset, Path.Combine(context.Root, "datasets"));

    // Only the pinned files shape the output: mirrors, retries and timeouts do not rerun the stage.
    public override StageDefinition Define(PipelineContext context)
    {
        var dataset = Dataset(context);
        return new StageDefinition(StageName, 1, new { dataset.Name, dataset.Files });
    }

    protected override async Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var dataset = Dataset(context);
        var mirrors = context.Mirrors
            .Concat(Environment.GetEnvironmentVariable(dataset.MirrorVariable) is { Length: > 0 } env ? [Downloader.ResolveMirror(env)] : [])
            .Concat(dataset.Mirrors)
            .ToList();
        using var downloader = new Downloader(context.Parameters.Download.Options, context.Logger);
        await downloader.FetchAllAsync(dataset.Files, mirrors, workspace.Directory, [workspace.Leftover, workspace.Previous], context.Cancellation);
        CanonicalJson.WriteFile(workspace.PathOf(DatasetDefinition.FileName), dataset);
        workspace.Metrics["files"] = dataset.Files.Count;
        workspace.Metrics["bytes"] = dataset.Files.Values.Sum(f => f.Size);
    }
}
