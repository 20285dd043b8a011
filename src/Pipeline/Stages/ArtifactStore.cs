using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// The incremental stage engine. Each stage's outputs live in <c>&lt;root&gt;/&lt;stage&gt;/</c> with a
/// <c>stage.json</c> record and their list (<see cref="OutputManifest"/>). A stage is up to date when its record matches
/// the fingerprint of its name, parameters, code and input contents, and its recorded outputs are present with their
/// recorded sizes and content.
/// A stage writes into <c>&lt;root&gt;/.staging/&lt;stage&gt;/</c>, records last, and the folder is swapped in by
/// rename: a run killed at any moment never leaves a stage that looks complete but is not.
/// </summary>
public sealed class ArtifactStore(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    string StagingRoot => Path.Combine(Root, ".staging");

    public string StageDirectory(string stage) => Path.Combine(Root, stage);

    /// <summary>Where an artifacts folder keeps its run cache, experiments and libtorch's own caches: <c>.cache/</c>.</summary>
    public static string CacheFolder(string artifacts) => Path.Combine(artifacts, ".cache");

    /// <summary>
    /// The stage's record, read once per version of the file: a run asks for the same records many times (fingerprints,
    /// checks, the experiment).
    /// </summary>
    public StageRecord? ReadRecord(string stage)
    {
        var file = new FileInfo(Path.Combine(StageDirectory(stage), StageRecord.FileName));
        if (!file.Exists) return null;
        var version = (file.Length, file.LastWriteTimeUtc.Ticks);
        lock (records)
            if (records.TryGetValue(stage, out var known) && known.Version == version) return known.Record;
        var record = StageRecord.TryRead(StageDirectory(stage));
        lock (records) records[stage] = (version, record);
        return record;
    }

    readonly Dictionary<string, ((long, long) Version, StageRecord? Record)> records = new(StringComparer.Ordinal);

    /// <summary>Where completed runs are kept and restored from; null runs without a run cache (<c>--no-cache</c>).</summary>
    public RunCache? Cache { get; init; }

    /// <summary>
    /// Puts the cached run with the stage's current fingerprint in place, every file checked against its hash, instead
    /// of recomputing it. Null when the cache does not hold a good one.
    /// </summary>
    public StageRecord? Restore(StageDefinition stage)
    {
        if (Cache?.Find(Fingerprint(stage).Hash) is not { } run) return null;
        string staging = Path.Combine(StagingRoot, $"{stage.Name}.restoring");
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        if (!Cache.Materialize(run, staging)) return null;
        var record = run with { OutputStamp = OutputManifest.Stamp(staging) };
        CanonicalJson.WriteFile(Path.Combine(staging, StageRecord.FileName), record);
        Swap(staging, StageDirectory(stage.Name));
        return record;
    }

    /// <summary>
    /// Puts a run the shared tier holds (<see cref="RunCache.FindSharedAsync"/>) in place: fetched into the run cache,
    /// every file checked, then restored by <see cref="Restore"/>. Null when it cannot be fetched.
    /// </summary>
    public async Task<StageRecord?> RestoreSharedAsync(StageDefinition stage, StageRecord run, CancellationToken cancellation = default) =>
        Cache is not null && await Cache.FetchAsync(run, cancellation) ? Restore(stage) : null;

    /// <summary>
    /// The stage's fingerprint and the canonical form of what went into it. <paramref name="expected"/> gives upstream
    /// output hashes a dry run expects (of stages it would restore) in place of the recorded ones.
    /// </summary>
    public (string Hash, JsonNode? Parameters, SortedDictionary<string, string> Inputs) Fingerprint(StageDefinition stage,
        IReadOnlyDictionary<string, string>? expected = null)
    {
        var inputs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var upstream in stage.Upstream)
            inputs[upstream] = expected?.GetValueOrDefault(upstream) ?? ReadRecord(upstream)?.OutputHash
                ?? throw new StageException($"stage '{stage.Name}' needs the outputs of '{upstream}', which has not completed");
        return (Hash(stage.Name, stage.Parameters, stage.Code, inputs), stage.Parameters, inputs);
    }

    static string Hash(string name, JsonNode? parameters, IReadOnlyDictionary<string, string> code, IReadOnlyDictionary<string, string> inputs) =>
        ContentHash.OfText(CanonicalJson.Serialize(new JsonObject
        {
            ["stage"] = name,
            ["parameters"] = parameters?.DeepClone(),
            ["code"] = CanonicalJson.ToNode(code),
            ["inputs"] = CanonicalJson.ToNode(inputs),
        }));

    /// <summary>Up to date, or every reason it is not (<paramref name="expected"/>: see <see cref="Fingerprint"/>).</summary>
    public StageStatus Check(StageDefinition stage, IReadOnlyDictionary<string, string>? expected = null)
    {
        var record = ReadRecord(stage.Name);
        if (record is null)
            return StageStatus.Stale("no complete record (never run, or the last run did not finish)");
        if (!record.IsCurrent)
            return StageStatus.Stale(StageRecord.OlderFormat);

        var (hash, parameters, inputs) = Fingerprint(stage, expected);
        var reasons = new List<string>();
        reasons.AddRange(CanonicalJson.Diff(record.Parameters, parameters).Select(d => $"parameter {d}"));
        reasons.AddRange(Changes("code", record.Code, stage.Code));
        reasons.AddRange(Changes("input", record.Inputs, inputs));
        if (reasons.Count == 0 && record.Fingerprint != hash)
            reasons.Add("fingerprint changed");
        if (reasons.Count > 0)
            return StageStatus.Stale([.. reasons]);
        reasons.AddRange(CheckOutputs(record, StageDirectory(stage.Name)));
        return reasons.Count > 0 ? StageStatus.Stale([.. reasons]) : StageStatus.Current();
    }

    internal static IEnumerable<string> Changes(string kind, IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> now)
    {
        foreach (var name in before.Keys.Union(now.Keys).Order(StringComparer.Ordinal))
        {
            bool had = before.TryGetValue(name, out var old), has = now.TryGetValue(name, out var current);
            if (!had) yield return $"{kind} added: {name}";
            else if (!has) yield return $"{kind} removed: {name}";
            else if (old != current) yield return $"{kind} changed: {name}";
        }
    }

    /// <summary>
    /// Every recorded output present and unchanged. While the folder's stamp (every file's path, size and modification
    /// time) is the recorded one, no file is read; otherwise each listed file must have its recorded size and SHA-256, and
    /// when all do the record takes the new stamp, so that the next check is cheap again.
    /// </summary>
    static IEnumerable<string> CheckOutputs(StageRecord record, string dir)
    {
        string stamp = OutputManifest.Stamp(dir);
        if (stamp == record.OutputStamp) return [];
        if (OutputManifest.Read(dir, record) is not { } outputs)
            return [$"its output list {OutputManifest.FileName} is missing or not the record's"];
        var problems = new System.Collections.Concurrent.ConcurrentBag<(string Path, string Problem)>();
        Parallel.ForEach(outputs, output =>
        {
            var file = new FileInfo(Path.Combine(dir, output.Path));
            if (!file.Exists)
                problems.Add((output.Path, $"output {output.Path} is missing"));
            else if (file.Length != output.Size)
                problems.Add((output.Path, $"output {output.Path} has {file.Length:N0} bytes, recorded {output.Size:N0}"));
            else if (ContentHash.OfFile(file.FullName) != output.Sha256)
                problems.Add((output.Path, $"output {output.Path} was changed (its content differs from the record)"));
        });
        if (problems.IsEmpty)
            CanonicalJson.WriteFile(Path.Combine(dir, StageRecord.FileName), record with { OutputStamp = stamp });
        return problems.OrderBy(p => p.Path, StringComparer.Ordinal).Select(p => p.Problem);
    }

    /// <summary>
    /// Runs <paramref name="produce"/> in a fresh staging folder, hashes what it wrote, writes the record, and swaps
    /// the folder in; then the run is kept in the run cache and sent to its shared tier. When <paramref name="produce"/>
    /// throws, nothing is recorded and the previous outputs stay, and so does what it wrote (a later run may salvage it).
    /// <paramref name="fresh"/> (<c>--force</c>) offers the run nothing to salvage or resume from.
    /// </summary>
    public async Task<StageRecord> RunAsync(StageDefinition stage, Func<StageWorkspace, CancellationToken, Task> produce,
        CancellationToken cancellation = default, bool fresh = false)
    {
        var (hash, parameters, inputs) = Fingerprint(stage);
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();

        string staging = Path.Combine(StagingRoot, stage.Name);
        if (Directory.Exists(staging))
        {
            // A run that was killed or failed: keep what it wrote where the stage may salvage it, beside what earlier
            // interrupted runs left, until a run of this stage is recorded.
            Directory.Move(staging, $"{staging}.leftover-{DateTime.UtcNow:yyyyMMddHHmmssfffffff}");
        }
        string? resumeKey = stage.ResumeParameters is null ? null : Hash(stage.Name, stage.ResumeParameters, stage.Code, inputs);
        if (!fresh && resumeKey is not null && Cache is not null)
        {
            // Cached runs under the same resume key (e.g. fewer epochs of the same training) are offered like leftovers.
            foreach (var run in Cache.Resumable(stage.Name, resumeKey).Take(2))
            {
                string seed = $"{staging}.leftover-cached-{run.Fingerprint[..12]}";
                if (!Directory.Exists(seed) && Cache.Materialize(run, seed))
                    CanonicalJson.WriteFile(Path.Combine(seed, StageRecord.FileName), run);
            }
        }
        var leftovers = Leftovers(stage.Name);
        // What a stopped run under the same key left in the run cache (a pruned trial's checkpoints, say), from any folder it serves.
        string? unfinished = fresh || resumeKey is null ? null : Cache?.Unfinished(stage.Name, resumeKey);
        Directory.CreateDirectory(staging);
        string final = StageDirectory(stage.Name);
        var workspace = new StageWorkspace(staging, !fresh && Directory.Exists(final) ? final : null,
            fresh ? [] : unfinished is null ? leftovers : [.. leftovers, unfinished])
        {
            ResumeKey = resumeKey,
            PreviousRecord = fresh ? null : ReadRecord(stage.Name),
        };

        try
        {
            await produce(workspace, cancellation);
        }
        catch when (resumeKey is not null && Cache is not null)
        {
            // Stopped (pruned, cancelled, failed): its work stays here as a leftover and, for a later run under the same
            // key in any folder this cache serves, in the cache.
            Cache.KeepUnfinished(stage.Name, resumeKey, staging);
            throw;
        }

        var outputs = HashOutputs(workspace, cancellation);
        byte[] list = OutputManifest.Serialize(outputs);
        File.WriteAllBytes(Path.Combine(staging, OutputManifest.FileName), list);
        var tools = new SortedDictionary<string, string>(ToolVersions(), StringComparer.Ordinal);
        foreach (var (name, version) in workspace.Tools) tools[name] = version;
        var record = new StageRecord
        {
            Format = StageRecord.CurrentFormat,
            Stage = stage.Name,
            Fingerprint = hash,
            Parameters = parameters,
            Code = new SortedDictionary<string, string>(stage.Code.ToDictionary(), StringComparer.Ordinal),
            Inputs = inputs,
            OutputHash = ContentHash.OfBytes(list),
            OutputFiles = outputs.Count,
            OutputBytes = outputs.Sum(o => o.Size),
            OutputStamp = OutputManifest.Stamp(staging),
            StartedAt = startedAt,
            DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            Tools = tools,
            Metrics = workspace.Metrics,
            ResumeKey = resumeKey,
        };
        CanonicalJson.WriteFile(Path.Combine(staging, StageRecord.FileName), record);
        CrashHook.Point("commit-recorded");
        Swap(staging, final);
        CrashHook.Point("commit-swapped");
        foreach (var leftover in leftovers) Directory.Delete(leftover, recursive: true);
        if (Cache is not null)
        {
            if (resumeKey is not null) Cache.DropUnfinished(stage.Name, resumeKey);
            Cache.Keep(record, outputs, final);
            await Cache.ShareAsync(record, outputs, final, cancellation);
        }
        return record;
    }

    /// <summary>What interrupted runs of a stage left, newest first.</summary>
    List<string> Leftovers(string stage) => Directory.Exists(StagingRoot)
        ? [.. Directory.EnumerateDirectories(StagingRoot, $"{stage}.leftover-*").OrderDescending(StringComparer.Ordinal)]
        : [];

    void Swap(string staging, string final)
    {
        string? retired = null;
        if (Directory.Exists(final))
        {
            retired = Path.Combine(StagingRoot, $"{Path.GetFileName(final)}.retired-{Guid.NewGuid():N}");
            Directory.Move(final, retired);
        }
        CrashHook.Point("commit-swap");
        Directory.Move(staging, final);
        if (retired is not null) Directory.Delete(retired, recursive: true);
    }

    /// <summary>
    /// Finishes what a killed run left half done, before anything is decided: a stage whose folder was moved aside
    /// while its complete, recorded replacement waited in staging gets the replacement; then retired folders go.
    /// </summary>
    public void Recover(Action<string>? log = null)
    {
        if (!Directory.Exists(StagingRoot)) return;
        foreach (var staged in Directory.EnumerateDirectories(StagingRoot).Where(d => !Path.GetFileName(d).Contains('.')))
        {
            string final = StageDirectory(Path.GetFileName(staged));
            if (Directory.Exists(final) || StageRecord.TryRead(staged) is not { IsCurrent: true } record) continue;
            if (CheckOutputs(record, staged).Any()) continue;
            Directory.Move(staged, final);
            log?.Invoke($"{record.Stage}: finished an interrupted commit (the complete outputs of {record.StartedAt:u} are in place)");
        }
        foreach (var dir in Directory.EnumerateDirectories(StagingRoot, "*.retired-*"))
            Directory.Delete(dir, recursive: true);
    }

    /// <summary>The <see cref="CrashHook"/> points of a commit, in order.</summary>
    public static readonly string[] CommitPoints = ["commit-recorded", "commit-swap", "commit-swapped"];

    internal static List<OutputFile> HashOutputs(StageWorkspace workspace, CancellationToken cancellation)
    {
        string dir = workspace.Directory;
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetDirectoryName(f) != dir || !OutputManifest.IsEngineFile(Path.GetFileName(f)))
            .ToArray();
        var outputs = new OutputFile[files.Length];
        Parallel.For(0, files.Length, new ParallelOptions { CancellationToken = cancellation }, i =>
        {
            string relative = Path.GetRelativePath(dir, files[i]).Replace(Path.DirectorySeparatorChar, '/');
            var info = new FileInfo(files[i]);
            outputs[i] = workspace.Declared(relative) is { } known && known.Size == info.Length
                ? known
                : new OutputFile(relative, info.Length, ContentHash.OfFile(files[i]));
        });
        return [.. outputs.OrderBy(o => o.Path, StringComparer.Ordinal)];
    }

    static SortedDictionary<string, string> ToolVersions() => new(StringComparer.Ordinal)
    {
        ["dotnet"] = Environment.Version.ToString(),
        ["os"] = RuntimeInformation.OSDescription,
        ["malloc"] = Runtime.MallocTuning.Allocator,
        ["pipeline"] = typeof(ArtifactStore).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
    };
}
