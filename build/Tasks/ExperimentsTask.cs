using Build.Host;
using Pipeline.Experiments;

namespace Build.Tasks;

[TaskName("Experiments")]
[TaskDescription("Print every experiment, newest first: id, name, when, the parameters that differ, the metrics (--format, --sort-by, --all-params).")]
public sealed class ExperimentsTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context)
    {
        var experiments = new ExperimentLog(PipelineHost.ExperimentsFolder(context.Store.Root)).All();
        Console.WriteLine(experiments.Count == 0 && !context.Settings.Json ? "no experiments yet: a full ./build.sh records one"
            : ExperimentTable.Render(experiments, context.Settings.Format, context.Settings.SortBy, context.Settings.AllParams));
        return Task.CompletedTask;
    }
}
