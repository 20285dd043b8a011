using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Imaging;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Export")]
[TaskDescription("Write every image as a lossless grayscale PNG in <split>/<class>/ folders, a manifest and contact sheets.")]
[IsDependentOn(typeof(VerifyTask))]
public sealed class ExportTask : StageTask
{
    public override StageDefinition Define(PipelineContext context) =>
        new(StageName, 2, context.Parameters.Export, new UpstreamInput("verify"));

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        string verified = context.Store.StageDirectory("verify");
        var result = Exporter.Export(VerifiedDataset.Load(verified), verified, context.Parameters.Export, workspace.Directory,
            [workspace.Previous, workspace.Leftover], context.Logger, (path, png) => workspace.Declare(path, png));
        context.Logger.Information("export: {Files:N0} PNG files ({Written:N0} written, {Reused:N0} already right) in {Seconds:0.00} s, {Rate:N0} files/s",
            result.Files, result.Written, result.Reused, result.Seconds, result.FilesPerSecond);
        workspace.Metrics["files"] = result.Files;
        workspace.Metrics["written"] = result.Written;
        workspace.Metrics["reused"] = result.Reused;
        workspace.Metrics["files_per_second"] = Math.Round(result.FilesPerSecond);
        return Task.CompletedTask;
    }
}
