using Build.Host;
using Build.Reporting;

namespace Build.Tasks;

[TaskName("Report")]
[TaskDescription("Write artifacts/report/index.html: every experiment on one self-contained page (table, plots, curves, run pages); --serve serves it, a running training live.")]
[LockFree]
public sealed class ReportTask : AsyncFrostingTask<PipelineContext>
{
    public override async Task RunAsync(PipelineContext context)
    {
        if (context.Settings.DryRun)
        {
            context.Settings.People.WriteLine($"report: would write {Path.Combine(context.Store.Root, ReportPage.Folder, ReportPage.FileName)}" +
                (context.Settings.Serve ? $" and serve it on 127.0.0.1:{context.Settings.Port}" : ""));
            return;
        }
        string page = ReportPage.Write(context.Store.Root, context.Stages.Root, context.Logger);
        if (!context.Settings.Serve)
        {
            context.Settings.People.WriteLine($"report: {page} (open it in a browser; --serve shows a running training live)");
            return;
        }
        await ReportServer.ServeAsync(context.Store.Root, context.Stages.Root, context.Settings.Port, context.Logger, context.Cancellation);
    }
}
