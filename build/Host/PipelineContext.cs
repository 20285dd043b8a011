using Cake.Core;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// The typed context every task receives (like Frosting's FrostingContext, an adapter over Cake's context): Cake's
/// services plus the run's settings, parameters, artifact store and what the stages see of the run.
/// </summary>
public sealed class PipelineContext(ICakeContext cake, PipelineSettings settings, PipelineParameters parameters,
    StageContext stages, TaskCatalog catalog, TaskInfo target, Serilog.ILogger logger)
    : CakeContextAdapter(cake)
{
    public PipelineSettings Settings { get; } = settings;

    public PipelineParameters Parameters { get; } = parameters;

    /// <summary>What the stages see: parameter sections, upstream outputs, mirrors, log, cancellation.</summary>
    public StageContext Stages { get; } = stages;

    public ArtifactStore Store => Stages.Store;

    public Serilog.ILogger Logger { get; } = logger;

    public CancellationToken Cancellation => Stages.Cancellation;

    public RunReport Report { get; } = new();

    /// <summary>Decides and carries out every stage of the run, sequential or under --jobs, dry or not.</summary>
    public StageRunner Runner { get; } = new(stages.Store, settings.DryRun);

    /// <summary>What a stage task sees; under --jobs its log lines carry the task's name.</summary>
    public StageContext StagesFor(string task) => Settings.Jobs > 1 ? Stages.WithLog(HostLogging.ForStage(Logger, task)) : Stages;

    /// <summary>--force: every stage of this run recomputes (with --exclusive only the target runs at all).</summary>
    public bool Forced => Settings.Force;

    /// <summary>
    /// Why this run does not need a stage, or null. The target is always needed; another stage is not when it switches
    /// itself off (e.g. transfer.enabled is false), or when none of the stages of this run that depend on it reads it.
    /// </summary>
    public string? WhyNotNeeded(Stage stage)
    {
        if (stage == target.Stage) return null;
        if (stage.NotNeeded(Stages) is { } why) return why;
        var readers = catalog.Closure(target).Select(t => t.Stage).OfType<Stage>().Where(s => s.Upstream.Contains(stage)).ToList();
        var reading = readers.Where(r => WhyNotNeeded(r) is null && r.Reads(Stages).Contains(stage)).ToList();
        if (readers.Count == 0 || reading.Count > 0) return null;
        // The first cause once, not nested at every step back up the graph.
        const string unread = "no stage of this run reads its outputs";
        var because = readers.Select(r => WhyNotNeeded(r)).OfType<string>().FirstOrDefault();
        return because is null ? unread : because.StartsWith(unread, StringComparison.Ordinal) ? because : $"{unread} ({because})";
    }
}
