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
        if (context.WhyNotNeeded(Stage) is { } why)
        {
            context.Report.Add(TaskName, TaskOutcome.NotNeeded, TimeSpan.Zero, why);
            context.Logger.Information("{Task}: not needed ({Reason})", TaskName, why);
            return false;
        }
        var definition = Stage.Define(context.Stages);
        var settings = context.Settings;
        if (settings.DryRun)
        {
            var pending = definition.Upstream.Where(context.Report.WillRun).ToList();
            var status = pending.Count > 0 ? StageStatus.Stale([.. OwnChanges(context, definition), $"upstream {string.Join(", ", pending)} would run first"])
                : context.Forced ? StageStatus.Stale("--force")
                : context.Store.Check(definition);
            if (!status.UpToDate && pending.Count == 0 && !context.Forced && context.Store.Cache?.Find(context.Store.Fingerprint(definition).Hash) is not null)
                status = StageStatus.Stale($"{status.Reason}; would restore from cache");
            context.Report.Add(TaskName, status.UpToDate ? TaskOutcome.UpToDate : TaskOutcome.WouldRun, TimeSpan.Zero, status.Reason);
            if (status.UpToDate)
                context.Logger.Information("{Task}: up to date", TaskName);
            else
                context.Logger.Information("{Task}: would run ({Reason})", TaskName, status.Reason);
            return false;
        }
        var decision = context.Forced ? StageStatus.Stale("--force") : context.Store.Check(definition);
        context.Report.Decided(TaskName, decision.Reason);
        if (!decision.UpToDate)
            context.Logger.Information("{Task} runs: {Reason}", TaskName, decision.Reason);
        return !decision.UpToDate;
    }

    /// <summary>The stage's own code and parameter changes since its record, named even when an upstream reruns first.</summary>
    static IEnumerable<string> OwnChanges(PipelineContext context, StageDefinition definition)
    {
        try
        {
            return context.Store.Check(definition).Reasons.Where(r => r.StartsWith("code ") || r.StartsWith("parameter ")).ToList();
        }
        catch (StageException)
        {
            return []; // an upstream without a record: nothing to compare with yet
        }
    }

    public sealed override async Task RunAsync(PipelineContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!context.Forced && await RestoreAsync(context) is var (restored, outcome, from))
        {
            context.Report.Add(TaskName, outcome, clock.Elapsed, context.Report.ReasonFor(TaskName));
            context.Logger.Information("{Task}: restored from {From} ({Outputs} files) in {Seconds:0.00} s", TaskName, from, restored.Outputs.Count, clock.Elapsed.TotalSeconds);
            return;
        }
        var stages = context.StagesFor(TaskName);
        var definition = Stage.Define(stages);
        bool slurm = context.Settings.Executor == "slurm" && Stage is IShardable;
        var record = await context.Store.RunAsync(definition, (workspace, _) => slurm
                ? SlurmExecutor.ProduceAsync(context, TaskName, (IShardable)Stage, definition, stages, workspace)
                : Stage.ProduceAsync(stages, workspace),
            context.Cancellation, fresh: context.Forced);
        if (slurm) SlurmExecutor.Recorded(context, definition);
        context.Logger.Debug("{Task}: recorded {Outputs} outputs, output hash {Hash}", TaskName, record.Outputs.Count, record.OutputHash);
    }

    /// <summary>The stage put back from this machine's run cache, else from the shared one; null when neither holds a good run.</summary>
    async Task<(StageRecord Record, TaskOutcome Outcome, string From)?> RestoreAsync(PipelineContext context)
    {
        var definition = Stage.Define(context.Stages);
        return context.Store.Restore(definition) is { } local ? (local, TaskOutcome.Restored, "the run cache")
            : await context.Store.RestoreRemoteAsync(definition, context.Cancellation) is { } remote ? (remote, TaskOutcome.RestoredRemote, "the remote cache")
            : null;
    }

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
