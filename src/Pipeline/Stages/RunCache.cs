using System.Runtime.InteropServices;
using System.Text.Json;

namespace Pipeline.Stages;

/// <summary>The <c>cache</c> section: how large the run cache may grow before <c>--target=CacheGc</c> evicts runs.</summary>
[Parameters.ParameterSection("cache")]
public sealed record CacheParameters(double MaxSizeMb = 20_000) : Parameters.IValidatedParameters
{
    public IEnumerable<string> Validate()
    {
        if (!(MaxSizeMb >= 0)) yield return $"max_size_mb must be ≥ 0, got {MaxSizeMb}";
    }
}

/// <summary>
/// Every completed stage run, kept content-addressed (DVC's run cache): each output file once by its SHA-256 under
/// <c>objects/</c>, and so each run's output list (<see cref="OutputManifest"/>, under its hash, the run's output hash),
/// each run's record under <c>runs/&lt;fingerprint&gt;.json</c>. A stage that is not up to date but
/// whose fingerprint the cache holds is restored instead of recomputed, every file checked against its hash first.
/// Files are hard-linked where the file system allows, copied otherwise. The cache never fails a run: a problem is
/// reported through <c>warn</c> and the stage runs as if the cache were empty.
/// </summary>
public sealed partial class RunCache(string root, Action<string> warn)
{
    public string Root { get; } = Path.GetFullPath(root);

    string Runs => Path.Combine(Root, "runs");

    string Object(string sha256) => Path.Combine(Root, "objects", sha256[..2], sha256);

    string RunFile(string fingerprint) => Path.Combine(Runs, fingerprint + ".json");

    /// <summary>Keeps a just-recorded run, its <paramref name="outputs"/> in <paramref name="folder"/>. Files already in the cache are not copied again.</summary>
    public void Keep(StageRecord record, IReadOnlyList<OutputFile> outputs, string folder)
    {
        try
        {
            foreach (var (sha256, path) in outputs.Select(o => (o.Sha256, o.Path)).Append((record.OutputHash, OutputManifest.FileName)))
            {
                string target = Object(sha256);
                if (File.Exists(target)) continue;
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                string temp = $"{target}.{Guid.NewGuid():N}.tmp";
                Place(Path.Combine(folder, path), temp);
                File.Move(temp, target, overwrite: true);
            }
            Directory.CreateDirectory(Runs);
            CanonicalJson.WriteFile(RunFile(record.Fingerprint), record with { Packs = null });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"run cache {Root}: cannot keep {record.Stage}'s run ({e.Message}); going on without caching it");
        }
    }

    /// <summary>Whether a file with this content is kept (it is checked against its hash when restored).</summary>
    bool Holds(string sha256) => File.Exists(Object(sha256));

    /// <summary>Keeps bytes already checked against <paramref name="sha256"/>.</summary>
    void Adopt(string sha256, ReadOnlySpan<byte> bytes)
    {
        string target = Object(sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        string temp = $"{target}.{Guid.NewGuid():N}.tmp";
        using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1)) file.Write(bytes);
        File.Move(temp, target, overwrite: true);
    }

    /// <summary>Keeps a file already checked against <paramref name="sha256"/>, moving it in (it must be on the cache's volume).</summary>
    void Adopt(string sha256, string file)
    {
        string target = Object(sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(file, target, overwrite: true);
    }

    /// <summary>The shared tier behind this cache (<c>--cache-url</c>); null: this machine's runs only.</summary>
    public RemoteCache? Shared { get; init; }

    /// <summary>The run with this fingerprint in the shared tier, its record checked; null when it has none, or on a problem (a warning).</summary>
    public async Task<StageRecord?> FindSharedAsync(string stage, string fingerprint, CancellationToken cancellation = default)
    {
        if (Shared is null) return null;
        try
        {
            return await Shared.GetRecordAsync(stage, fingerprint, cancellation);
        }
        catch (Exception e) when (RemoteCache.IsCacheProblem(e, cancellation))
        {
            WarnShared(stage, e);
            return null;
        }
    }

    /// <summary>
    /// Brings a run that <see cref="FindSharedAsync"/> found into this cache: its output list, then the files it lacks
    /// (the small ones from the run's packs, the others one by one), each checked against its SHA-256 before it is kept.
    /// False on a problem (a warning), with nothing unverified kept.
    /// </summary>
    public async Task<bool> FetchAsync(StageRecord run, CancellationToken cancellation = default)
    {
        if (Shared is null) return false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string incoming = Path.Combine(Root, $"incoming-{run.Fingerprint}");
        try
        {
            var (outputs, list) = await Shared.GetOutputListAsync(run, cancellation);
            Adopt(run.OutputHash, list);
            var files = outputs.DistinctBy(o => o.Sha256).ToList();
            var missing = files.Where(o => !Holds(o.Sha256)).ToList();
            if (Directory.Exists(incoming)) Directory.Delete(incoming, recursive: true);
            var progress = new Progress(Shared.Log, $"{run.Stage} from the remote cache", missing.Sum(o => o.Size), "bytes");
            Directory.CreateDirectory(incoming);
            var single = missing.Where(o => !Pack.Packed(o)).ToList();
            await Parallel.ForEachAsync(single, RemoteCache.Bounded(cancellation), async (output, token) =>
            {
                string file = Path.Combine(incoming, output.Sha256);
                await Shared.GetFileAsync(output, file, progress, token);
                Adopt(output.Sha256, file);
            });
            var wanted = missing.Where(Pack.Packed).Select(o => o.Sha256).ToHashSet(StringComparer.Ordinal);
            int packs = wanted.Count == 0 ? 0 : run.Packs!.Count;
            await Parallel.ForEachAsync(run.Packs!.Take(packs), RemoteCache.Bounded(cancellation, RemoteCache.PackParallelism), async (pack, token) =>
            {
                // Many small files: written in parallel, as creating each costs more than its bytes.
                Parallel.ForEach(await Shared.GetPackAsync(run, pack, progress, token), new ParallelOptions { CancellationToken = token }, file =>
                {
                    if (wanted.Contains(file.Sha256) && !Holds(file.Sha256)) Adopt(file.Sha256, file.Body.Span);
                });
            });
            if (files.FirstOrDefault(o => !Holds(o.Sha256)) is { } lacking)
                throw new RemoteCacheException($"the run's packs do not hold {lacking.Path} ({lacking.Sha256[..12]})");
            // Every file is now held, checked: this keeps the record, and the ordinary restore puts the run in place.
            Keep(run, outputs, incoming);
            Shared.Log.Information("{StageName}: fetched from the remote cache {Url}: {Files} files ({Packs} packs, {Single} single), {Bytes} in {Seconds:0.00} s ({Held} already here)",
                run.Stage, Shared.Url, missing.Count, packs, single.Count, Progress.Bytes(progress.Done), clock.Elapsed.TotalSeconds, files.Count - missing.Count);
            return true;
        }
        catch (Exception e) when (RemoteCache.IsCacheProblem(e, cancellation))
        {
            WarnShared(run.Stage, e);
            return false;
        }
        finally
        {
            try { if (Directory.Exists(incoming)) Directory.Delete(incoming, recursive: true); }
            catch (IOException) { } // the next fetch of this run starts by deleting it again
        }
    }

    void WarnShared(string stage, Exception e) =>
        Shared!.Log.Warning("remote cache {Url}: cannot restore {StageName} ({Problem}); it runs as if the cache were empty", Shared.Url, stage, Shared.Describe(e));

    /// <summary>Sends a just-recorded run (its <paramref name="outputs"/> in <paramref name="folder"/>) to the shared tier, if there is one.</summary>
    public Task ShareAsync(StageRecord record, IReadOnlyList<OutputFile> outputs, string folder, CancellationToken cancellation = default) =>
        Shared?.UploadAsync(record, outputs, folder, cancellation) ?? Task.CompletedTask;

    /// <summary>The cached run with this fingerprint, if any.</summary>
    public StageRecord? Find(string fingerprint)
    {
        string path = RunFile(fingerprint);
        if (!File.Exists(path)) return null;
        StageRecord? run;
        try { run = JsonSerializer.Deserialize<StageRecord>(File.ReadAllBytes(path), CanonicalJson.Options); }
        catch (Exception e) when (e is JsonException or IOException) { Drop(fingerprint, $"unreadable record ({e.Message})"); return null; }
        if (run is { IsCurrent: true }) return run;
        Drop(fingerprint, StageRecord.OlderFormat);
        return null;
    }

    /// <summary>The output list of a cached run, checked against its output hash; null when the cache does not hold it whole.</summary>
    public List<OutputFile>? Outputs(StageRecord run)
    {
        try { return OutputManifest.Parse(File.ReadAllBytes(Object(run.OutputHash)), run.OutputHash); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or JsonException) { return null; }
    }

    /// <summary>The path of one output of a cached run, checked against its hash; null when the cache does not hold it whole.</summary>
    public string? ReadOutput(string fingerprint, string path)
    {
        if (Find(fingerprint) is not { } run || Outputs(run)?.FirstOrDefault(o => o.Path == path) is not { } output) return null;
        string file = Object(output.Sha256);
        return File.Exists(file) && ContentHash.OfFile(file) == output.Sha256 ? file : null;
    }

    /// <summary>Cached runs of a stage made under the same resume key, newest first: earlier work a resumable stage may continue.</summary>
    public IEnumerable<StageRecord> Resumable(string stage, string resumeKey) =>
        !Directory.Exists(Runs) ? [] : Directory.EnumerateFiles(Runs, "*.json")
            .Select(f => Find(Path.GetFileNameWithoutExtension(f)))
            .OfType<StageRecord>()
            .Where(r => r.Stage == stage && r.ResumeKey == resumeKey)
            .OrderByDescending(r => r.StartedAt);

    string UnfinishedSlot(string stage, string resumeKey) => Path.Combine(Root, "unfinished", $"{stage}-{resumeKey}");

    /// <summary>
    /// Keeps what a resumable stage's run wrote before it stopped (<paramref name="folder"/>, linked, not copied where the
    /// file system allows) under its resume key, for <see cref="Unfinished"/>. It replaces what an earlier stopped run
    /// kept only if it holds at least as many files: a run offered that work copied it first, so one with fewer stopped
    /// before it could.
    /// </summary>
    public void KeepUnfinished(string stage, string resumeKey, string folder)
    {
        string slot = UnfinishedSlot(stage, resumeKey), temp = $"{slot}.{Guid.NewGuid():N}.tmp";
        try
        {
            if (!Directory.Exists(folder)) return;
            var files = Directory.GetFiles(folder, "*", SearchOption.AllDirectories);
            if (files.Length == 0 || Directory.Exists(slot) && Directory.GetFiles(slot, "*", SearchOption.AllDirectories).Length > files.Length) return;
            foreach (var file in files)
            {
                string target = Path.Combine(temp, Path.GetRelativePath(folder, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                Place(file, target);
            }
            if (Directory.Exists(slot)) Directory.Delete(slot, recursive: true);
            Directory.Move(temp, slot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"run cache {Root}: cannot keep {stage}'s unfinished run ({e.Message}); a later run of it starts over");
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The folder of what a stopped run of the stage under this resume key left (only to be read), or null.</summary>
    public string? Unfinished(string stage, string resumeKey) => UnfinishedSlot(stage, resumeKey) is var slot && Directory.Exists(slot) ? slot : null;

    /// <summary>Drops the stopped run's work once a run under its key is recorded (that run was offered it).</summary>
    public void DropUnfinished(string stage, string resumeKey)
    {
        try { if (Unfinished(stage, resumeKey) is { } slot) Directory.Delete(slot, recursive: true); }
        catch (IOException) { } // the next recorded run drops it
    }

    /// <summary>
    /// Puts a cached run's files and output list into <paramref name="folder"/> (which must not exist), each checked
    /// against its hash. False, with the entry dropped and a warning, when one is missing or does not match.
    /// </summary>
    public bool Materialize(StageRecord run, string folder)
    {
        try
        {
            if (Outputs(run) is not { } outputs)
                return Fail($"its output list ({run.OutputHash[..12]}) is missing or fails its hash", run.OutputHash);
            Directory.CreateDirectory(folder);
            OutputFile? bad = null;
            Parallel.ForEach(outputs, (output, loop) =>
            {
                string source = Object(output.Sha256);
                if (!File.Exists(source) || ContentHash.OfFile(source) != output.Sha256)
                {
                    bad = output;
                    loop.Stop();
                    return;
                }
                string target = Path.Combine(folder, output.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                Place(source, target);
            });
            if (bad is not null)
                return Fail($"{bad.Path} ({bad.Sha256[..12]}) is missing or fails its hash", bad.Sha256);
            Place(Object(run.OutputHash), Path.Combine(folder, OutputManifest.FileName));
            File.SetLastWriteTimeUtc(RunFile(run.Fingerprint), DateTime.UtcNow); // last used, for eviction
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warn($"run cache {Root}: cannot restore {run.Stage} ({e.Message}); it runs instead");
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            return false;
        }

        bool Fail(string why, string sha256)
        {
            Drop(run.Fingerprint, why);
            if (File.Exists(Object(sha256))) File.Delete(Object(sha256)); // so that the next run keeps a good copy
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            return false;
        }
    }

    void Drop(string fingerprint, string why)
    {
        warn($"run cache: dropping entry {fingerprint[..12]}: {why}");
        try { File.Delete(RunFile(fingerprint)); } catch (IOException) { }
    }

    /// <summary>
    /// Evicts the least recently used runs until the cache holds at most <paramref name="maxBytes"/>, never a run in
    /// <paramref name="keep"/> (the runs of named experiments), then deletes objects no remaining run refers to.
    /// </summary>
    public (int Runs, long Bytes) Collect(long maxBytes, IReadOnlySet<string> keep)
    {
        if (!Directory.Exists(Runs)) return (0, 0);
        var runs = Directory.EnumerateFiles(Runs, "*.json").Select(f => (File: f, Used: File.GetLastWriteTimeUtc(f),
                Record: Find(Path.GetFileNameWithoutExtension(f)))).Where(r => r.Record is not null)
            .Select(r => (r.File, r.Used, Record: r.Record!, Outputs: Outputs(r.Record!))).ToList();
        foreach (var run in runs.Where(r => r.Outputs is null))
            Drop(run.Record.Fingerprint, $"its output list ({run.Record.OutputHash[..12]}) is missing or fails its hash");
        runs = [.. runs.Where(r => r.Outputs is not null).OrderBy(r => r.Used)];
        long Size(IEnumerable<List<OutputFile>> lists) => lists.SelectMany(o => o).DistinctBy(o => o.Sha256).Sum(o => o.Size);
        var alive = runs.ToList();
        int evicted = 0;
        foreach (var run in runs)
        {
            if (Size(alive.Select(r => r.Outputs!)) <= maxBytes) break;
            if (keep.Contains(run.Record.Fingerprint)) continue;
            File.Delete(run.File);
            alive.Remove(run);
            evicted++;
        }
        // Stopped runs' work is for resuming, not a result: a collection drops it all.
        string unfinished = Path.Combine(Root, "unfinished");
        if (Directory.Exists(unfinished)) Directory.Delete(unfinished, recursive: true);
        var referenced = alive.SelectMany(r => r.Outputs!.Select(o => o.Sha256).Append(r.Record.OutputHash)).ToHashSet();
        long freed = 0;
        string objects = Path.Combine(Root, "objects");
        if (Directory.Exists(objects))
            foreach (var file in Directory.EnumerateFiles(objects, "*", SearchOption.AllDirectories).Where(f => !referenced.Contains(Path.GetFileName(f))))
            {
                freed += new FileInfo(file).Length;
                File.Delete(file);
            }
        return (evicted, freed);
    }

    /// <summary>A hard link where the file system allows one (same volume), else a copy.</summary>
    internal static void Place(string source, string target)
    {
        if (File.Exists(target)) File.Delete(target);
        if (OperatingSystem.IsWindows() || Link(source, target) != 0)
            File.Copy(source, target);
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
