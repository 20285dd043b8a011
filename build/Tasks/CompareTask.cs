using Build.Host;
using Pipeline.Evaluation;
using Pipeline.Experiments;
using Pipeline.Training;

namespace Build.Tasks;

[TaskName("Compare")]
[TaskDescription("Two experiments side by side (--a, --b): the parameters that differ, every metric with its change, and both runs' curves in one chart.")]
public sealed class CompareTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context)
    {
        if (context.Settings.A is not { } a || context.Settings.B is not { } b)
            throw new UsageException("--target=Compare needs --a=ID|NAME and --b=ID|NAME (see --target=Experiments)");
        var log = new ExperimentLog(PipelineHost.ExperimentsFolder(context.Store.Root));
        var (first, second) = (log.Find(a), log.Find(b));
        Console.WriteLine(context.Settings.Json ? ExperimentTable.DiffJson(first, second) : ExperimentTable.Diff(first, second));

        var curves = new[] { first, second }.Select(e => History(context, e) is { } h
            ? new Charts.Run(e.Name ?? e.Id, h.Select(r => r.Epoch).ToList(), h.Select(r => r.ValLoss).ToList(), h.Select(r => r.ValAccuracy).ToList())
            : null).ToList();
        if (curves.Any(c => c is null))
        {
            context.Logger.Warning("compare: the run cache no longer holds the training history of both experiments; no chart");
            return Task.CompletedTask;
        }
        string chart = Path.Combine(context.Store.Root, "compare", $"{first.Id}-{second.Id}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(chart)!);
        File.WriteAllBytes(chart, Charts.CompareCurves([.. curves.OfType<Charts.Run>()]));
        context.Settings.People.WriteLine($"\ntraining curves of both: {chart}");
        return Task.CompletedTask;
    }

    /// <summary>The experiment's Train history, from its run in the cache.</summary>
    static List<EpochRecord>? History(PipelineContext context, Experiment experiment) =>
        experiment.Stages.TryGetValue(TrainStage.Instance.Name, out var fingerprint)
            && context.Store.Cache?.ReadOutput(fingerprint, CheckpointedTraining.HistoryFile) is { } path
            ? CheckpointedTraining.ReadHistory(path) : null;
}
