using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Imaging;

/// <summary>Export: every image as a lossless PNG in split/class folders, a manifest and contact sheets.</summary>
public sealed class ExportStage : ShardableStage<ExportStage>
{
    public override string Name => "export";
    public override string Description => "Write every image as a lossless PNG (gray or RGB) in <split>/<class>/ folders, a manifest and contact sheets.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    public override IReadOnlyList<string> Shapes => ["export.splits", "export.limit", "export.one_hot", "export.sheet_images"];
    public override int Items(StageContext context) => Exporter.Items(VerifyStage.Load(context).Dataset, context.Section<ExportParameters>());

    public override IReadOnlyList<string> Concatenated(StageContext context) => [Exporter.Manifest];

    public override Task ProduceRangeAsync(StageContext context, StageWorkspace part, ItemRange range)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        var result = Exporter.ExportRange(dataset, verified, context.Section<ExportParameters>(), range, part.Directory,
            part.Salvage, context.Log, (path, png) => part.Declare(path, png), context.Cancellation);
        context.Log.Information("export: {Files:N0} PNG files ({Written:N0} written, {Reused:N0} already right) in {Seconds:0.00} s, {Rate:N0} files/s",
            result.Files, result.Written, result.Reused, result.Seconds, result.FilesPerSecond);
        part.Metrics["files"] = result.Files;
        part.Metrics["written"] = result.Written;
        part.Metrics["reused"] = result.Reused;
        part.Metrics["seconds"] = Math.Round(result.Seconds, 2);
        return Task.CompletedTask;
    }

    public override Task CompleteAsync(StageContext context, StageWorkspace workspace)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        Exporter.Complete(dataset, verified, context.Section<ExportParameters>(), workspace.Directory);
        workspace.Metrics["files_per_second"] = Math.Round(workspace.Metric("files") / Math.Max(workspace.Metric("seconds"), 1e-6));
        return Task.CompletedTask;
    }
}
