using System.Reflection;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// A pipeline stage as a Cake task. The stage's declaration (in the library) says what it reads, what shapes it and
/// how it makes its outputs; the host derives the task's dependencies from it, and the stage engine decides whether
/// it runs and commits its outputs safely.
/// </summary>
public abstract class StageTask<TStage> : AsyncFrostingTask<PipelineContext>, IStageTask where TStage : Stage<TStage>, new()
{
    public Stage Stage => Stage<TStage>.Instance;

    string TaskName => GetType().GetCustomAttribute<TaskNameAttribute>()!.Name;

    public sealed override bool ShouldRun(PipelineContext context)
    {
        if (context.WhyNotNeeded(Stage) is not { } why) return true;
        context.Report.Add(TaskName, TaskOutcome.NotNeeded, TimeSpan.Zero, why);
        context.Logger.Information("{Task}: not needed ({Reason})", TaskName, why);
        return false;
    }

    /// <summary>The engine's one decision (<see cref="StageRunner"/>), said and reported; carried out unless this is a dry run.</summary>
    public sealed override async Task RunAsync(PipelineContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stages = context.StagesFor(TaskName);
        var definition = Stage.Define(stages);
        var decision = await context.Runner.DecideAsync(definition, context.Forced, context.Cancellation);
        if (context.Settings.DryRun)
        {
            var outcome = Outcome(decision.Action, dryRun: true);
            context.Report.Add(TaskName, outcome, TimeSpan.Zero, decision.Reason);
            context.Logger.Information("{Task}: {Outcome} ({Reason})", TaskName, RunReport.Describe(outcome), decision.Reason);
            return;
        }
        if (decision.Action != StageAction.UpToDate)
            context.Logger.Information("{Task} runs: {Reason}", TaskName, decision.Reason);
        bool slurm = context.Settings.Executor == "slurm" && Stage is IShardable;
        var (record, done) = await context.Runner.CarryOutAsync(definition, decision, (workspace, _) => slurm
                ? SlurmExecutor.ProduceAsync(context, TaskName, (IShardable)Stage, definition, stages, workspace)
                : Stage.ProduceAsync(stages, workspace),
            context.Cancellation, fresh: context.Forced);
        if (done == StageAction.Run && slurm) SlurmExecutor.Recorded(context, definition);
        context.Report.Add(TaskName, Outcome(done, dryRun: false), clock.Elapsed, decision.Reason);
        if (done is StageAction.RestoreLocal or StageAction.RestoreShared)
            context.Logger.Information("{Task}: restored from {From} ({Outputs} files) in {Seconds:0.00} s", TaskName,
                done == StageAction.RestoreLocal ? "the run cache" : "the remote cache", record.OutputFiles, clock.Elapsed.TotalSeconds);
        context.Logger.Debug("{Task}: recorded {Outputs} outputs, output hash {Hash}", TaskName, record.OutputFiles, record.OutputHash);
    }

    /// <summary>How the report names what the engine did, or would do in a dry run.</summary>
    static TaskOutcome Outcome(StageAction action, bool dryRun) => action switch
    {
        StageAction.UpToDate => TaskOutcome.UpToDate,
        StageAction.RestoreLocal => dryRun ? TaskOutcome.WouldRestore : TaskOutcome.Restored,
        StageAction.RestoreShared => dryRun ? TaskOutcome.WouldRestoreShared : TaskOutcome.RestoredRemote,
        _ => dryRun ? TaskOutcome.WouldRun : TaskOutcome.Executed,
    };

    public sealed override Task FinishAsync(PipelineContext context)
    {
        if (context.WhyNotNeeded(Stage) is null)
            Stage.Finish(context.StagesFor(TaskName));
        return Task.CompletedTask;
    }
}

/// <summary>What the host needs of a stage task without knowing its stage's type.</summary>
public interface IStageTask
{
    Stage Stage { get; }
}
