using System.Reflection;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// A pipeline stage as a task: it says what it is (<see cref="Define"/>) and how it makes its outputs
/// (<see cref="ProduceAsync"/>); the stage engine decides whether it runs and writes it safely.
/// </summary>
public abstract class StageTask : AsyncFrostingTask<PipelineContext>
{
    public string TaskName => GetType().GetCustomAttribute<TaskNameAttribute>()!.Name;

    /// <summary>The stage's folder under artifacts/, and the name its dependents use for its outputs.</summary>
    public string StageName => TaskName.ToLowerInvariant();

    public abstract StageDefinition Define(PipelineContext context);

    protected abstract Task ProduceAsync(PipelineContext context, StageWorkspace workspace);

    /// <summary>Why this run does not need the stage at all (e.g. a switched-off branch of the graph), or null.</summary>
    protected virtual string? NotNeeded(PipelineContext context) => null;

    public sealed override bool ShouldRun(PipelineContext context)
    {
        if (NotNeeded(context) is { } why)
        {
            context.Report.Add(TaskName, TaskOutcome.NotNeeded, TimeSpan.Zero, why);
            context.Logger.Information("{Task}: not needed ({Reason})", TaskName, why);
            return false;
        }
        var definition = Define(context);
        var settings = context.Settings;
        if (settings.DryRun)
        {
            var pending = definition.Upstream.Where(context.Report.WillRun).ToList();
            var status = pending.Count > 0 ? StageStatus.Stale($"upstream {string.Join(", ", pending)} would run first")
                : settings.Force ? StageStatus.Stale("--force")
                : context.Store.Check(definition);
            context.Report.Add(TaskName, status.UpToDate ? TaskOutcome.UpToDate : TaskOutcome.WouldRun, TimeSpan.Zero, status.Reason);
            if (status.UpToDate)
                context.Logger.Information("{Task}: up to date", TaskName);
            else
                context.Logger.Information("{Task}: would run ({Reason})", TaskName, status.Reason);
            return false;
        }
        var decision = settings.Force ? StageStatus.Stale("--force") : context.Store.Check(definition);
        context.Report.Decided(TaskName, decision.Reason);
        if (!decision.UpToDate)
            context.Logger.Information("{Task} runs: {Reason}", TaskName, decision.Reason);
        return !decision.UpToDate;
    }

    public sealed override async Task RunAsync(PipelineContext context)
    {
        var record = await context.Store.RunAsync(Define(context), (workspace, _) => ProduceAsync(context, workspace), context.Cancellation);
        context.Logger.Debug("{Task}: recorded {Outputs} outputs, output hash {Hash}", TaskName, record.Outputs.Count, record.OutputHash);
    }
}
