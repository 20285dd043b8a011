using System.Collections.Concurrent;

namespace Pipeline.Stages;

/// <summary>What the engine does with a stage in this run.</summary>
public enum StageAction { UpToDate, RestoreLocal, RestoreShared, Run }

/// <summary>The decision for one stage and why; a restore carries the cached run it puts in place.</summary>
public sealed record StageDecision(StageAction Action, string Reason)
{
    public StageRecord? Cached { get; init; }
}

/// <summary>
/// The one place that decides, for a stage of a run, between up to date, restore from this machine's run cache,
/// restore from the shared tier behind it, and run (with the reason), and that carries the decision out. A dry run is
/// the same decision without carrying it out: a stage it would restore counts with the cached run's output hash, so the
/// stages after it are decided as the real run will decide them.
/// </summary>
public sealed class StageRunner(ArtifactStore store, bool dryRun = false)
{
    // Dry run: the output hashes of the stages it would restore, and the stages it would run.
    readonly ConcurrentDictionary<string, string> expected = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, bool> wouldRun = new(StringComparer.Ordinal);

    public ArtifactStore Store => store;

    public async Task<StageDecision> DecideAsync(StageDefinition stage, bool force, CancellationToken cancellation = default)
    {
        var decision = await DecideCoreAsync(stage, force, cancellation);
        if (dryRun)
        {
            if (decision.Action == StageAction.Run) wouldRun[stage.Name] = true;
            else if (decision.Cached is { } cached) expected[stage.Name] = cached.OutputHash;
        }
        return decision;
    }

    async Task<StageDecision> DecideCoreAsync(StageDefinition stage, bool force, CancellationToken cancellation)
    {
        var pending = stage.Upstream.Where(wouldRun.ContainsKey).ToList();
        if (pending.Count > 0)
            return new(StageAction.Run, string.Join("; ", [.. OwnChanges(stage), $"upstream {string.Join(", ", pending)} would run first"]));
        if (force)
            return new(StageAction.Run, "--force");
        var status = store.Check(stage, expected);
        if (status.UpToDate)
            return new(StageAction.UpToDate, status.Reason);
        string fingerprint = store.Fingerprint(stage, expected).Hash;
        if (store.Cache?.Find(fingerprint) is { } local)
            return new(StageAction.RestoreLocal, status.Reason) { Cached = local };
        if (store.Cache is not null && await store.Cache.FindSharedAsync(stage.Name, fingerprint, cancellation) is { } shared)
            return new(StageAction.RestoreShared, status.Reason) { Cached = shared };
        return new(StageAction.Run, status.Reason);
    }

    /// <summary>The stage's own code and parameter changes since its record, named even when an upstream runs first.</summary>
    IEnumerable<string> OwnChanges(StageDefinition stage)
    {
        var record = store.ReadRecord(stage.Name);
        if (record is null) return [];
        return [.. CanonicalJson.Diff(record.Parameters, stage.Parameters).Select(d => $"parameter {d}"),
            .. ArtifactStore.Changes("code", record.Code, stage.Code)];
    }

    /// <summary>
    /// Carries a decision out: nothing for up to date, the cached run put in place for a restore, else
    /// <paramref name="produce"/> through the engine. A restore that fails (a file gone or damaged since the decision)
    /// runs the stage instead. Returns the stage's record and what was done.
    /// </summary>
    public async Task<(StageRecord Record, StageAction Done)> CarryOutAsync(StageDefinition stage, StageDecision decision,
        Func<StageWorkspace, CancellationToken, Task> produce, CancellationToken cancellation = default, bool fresh = false)
    {
        if (dryRun) throw new InvalidOperationException("a dry run carries nothing out");
        switch (decision.Action)
        {
            case StageAction.UpToDate when store.ReadRecord(stage.Name) is { } current:
                return (current, StageAction.UpToDate);
            case StageAction.RestoreLocal when store.Restore(stage) is { } restored:
                return (restored, StageAction.RestoreLocal);
            case StageAction.RestoreShared when await store.RestoreSharedAsync(stage, decision.Cached!, cancellation) is { } fetched:
                return (fetched, StageAction.RestoreShared);
        }
        return (await store.RunAsync(stage, produce, cancellation, fresh), StageAction.Run);
    }
}
