using Build.Host;
using Pipeline.Experiments;

namespace Build.Tasks;

[TaskName("Experiments")]
[TaskDescription("Print every experiment, newest first: id, name, when, the parameters that differ, the metrics (--format, --sort-by, --all-params); with --study=NAME, a search's trials best first and its plots.")]
public sealed class ExperimentsTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context)
    {
        if (context.Settings.Study is { } name)
        {
            var study = Pipeline.Search.Study.Read(context.Store.Root, name)
                ?? throw new Pipeline.Search.SearchException($"--study={name}: no such study in {Path.Combine(context.Store.Root, "studies")}");
            var plots = Pipeline.Search.StudyReport.Plots(study);
            Console.WriteLine(Pipeline.Search.StudyReport.Render(study, context.Settings.Format));
            if (plots.Count > 0) context.Settings.People.WriteLine($"plots: {string.Join(", ", plots)}");
            return Task.CompletedTask;
        }
        var experiments = new ExperimentLog(PipelineHost.ExperimentsFolder(context.Store.Root)).All();
        Console.WriteLine(experiments.Count == 0 && !context.Settings.Json ? "no experiments yet: a full ./build.sh records one"
            : ExperimentTable.Render(experiments, context.Settings.Format, context.Settings.SortBy, context.Settings.AllParams));
        return Task.CompletedTask;
    }
}
