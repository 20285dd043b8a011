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
        string page = ReportPage.Write(context.Store.Root, context.Stages.Root, context.Logger);
        if (!context.Settings.Serve)
        {
            context.Settings.People.WriteLine($"report: {page} (open it in a browser; --serve shows a running training live)");
            return;
        }
        await ReportServer.ServeAsync(context.Store.Root, context.Stages.Root, context.Settings.Port, context.Logger, context.Cancellation);
    }
}
