using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Imaging;

/// <summary>Export: every image as a lossless PNG in split/class folders, a manifest and contact sheets.</summary>
public sealed class ExportStage : Stage<ExportStage>
{
    public override string Name => "export";
    public override string Description => "Write every image as a lossless PNG (gray or RGB) in <split>/<class>/ folders, a manifest and contact sheets.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance];
    public override IReadOnlyList<string> Shapes => ["export.splits", "export.limit", "export.one_hot", "export.sheet_images"];
    public override IReadOnlyList<string> Code =>
        ["src/Pipeline/Imaging/ExportStage.cs", "src/Pipeline/Imaging/Exporter.cs", "src/Pipeline/Imaging/Png.cs",
         "src/Pipeline/Imaging/ContactSheet.cs", "src/Pipeline/Imaging/Fonts.cs", "src/Pipeline/Acquisition/VerifiedDataset.cs"];

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var (dataset, verified) = VerifyStage.Load(context);
        var result = Exporter.Export(dataset, verified, context.Section<ExportParameters>(), workspace.Directory,
            workspace.Salvage, context.Log, (path, png) => workspace.Declare(path, png), context.Cancellation);
        context.Log.Information("export: {Files:N0} PNG files ({Written:N0} written, {Reused:N0} already right) in {Seconds:0.00} s, {Rate:N0} files/s",
            result.Files, result.Written, result.Reused, result.Seconds, result.FilesPerSecond);
        workspace.Metrics["files"] = result.Files;
        workspace.Metrics["written"] = result.Written;
        workspace.Metrics["reused"] = result.Reused;
        workspace.Metrics["files_per_second"] = Math.Round(result.FilesPerSecond);
        return Task.CompletedTask;
    }
}
