using System.Diagnostics;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// <c>--executor=slurm</c>. A shardable stage that must run is split into <c>--shards</c> index ranges; the shards not
/// finished earlier are submitted as one <c>sbatch --array</c> job whose task i runs this same host with
/// <c>--shard=i/N</c> (and the run's parameters, artifacts and mirrors) on the shared file system; the run waits for
/// it, holding the artifacts lock, then merges the shards into the stage's staging folder, and the engine verifies and
/// records the stage as after a local run.
/// </summary>
public static class SlurmExecutor
{
    public static async Task ProduceAsync(PipelineContext context, string task, IShardable stage, StageDefinition definition,
        StageContext stages, StageWorkspace workspace)
    {
        var log = stages.Log;
        var shards = new ShardSet(context.Store, definition, stage.Items(stages), context.Settings.Shards);
        if (context.Forced && Directory.Exists(shards.Root)) Directory.Delete(shards.Root, recursive: true);
        var missing = shards.Missing();
        log.Information("{StageName}: {Items:N0} items in {Shards} shards; {Done} finished earlier, {Missing} go to Slurm",
            definition.Name, shards.Items, shards.Count, shards.Count - missing.Count, missing.Count);
        if (missing.Count > 0)
        {
            var cluster = new SlurmCluster(context.Parameters.Section<SlurmParameters>());
            var clock = Stopwatch.StartNew();
            var args = Arguments(context.Settings, task, context.Store.Root, context.Settings.Sets);
            string script = WriteScript(shards.Root, [.. Enumerable.Range(0, shards.Count).Select(i => (IReadOnlyList<string>)[.. args, $"--shard={i}/{shards.Count}"])]);
            string job = cluster.Submit(script, missing, $"pipeline-{definition.Name}", shards.Logs, Environment.CurrentDirectory);
            log.Information("{StageName}: Slurm job {Job}, tasks {Tasks}; logs in {Logs}", definition.Name, job, SlurmCluster.ArraySpec(missing), shards.Logs);
            var ended = await cluster.WaitAsync(job, missing.Count, m => log.Information("{StageName}: {Progress:l}", definition.Name, m), context.Cancellation);
            var failed = missing.Where(i => shards.Completed(i) is null).ToList();
            if (failed.Count > 0)
            {
                var lines = failed.Select(i =>
                {
                    var how = ended.FirstOrDefault(t => t.Index == i);
                    string state = how?.Ending ?? "ended without finishing";
                    return $"shard {i}/{shards.Count} ({shards.Range(i)}) failed: Slurm task {job}_{i} {state}; its log: {SlurmCluster.LogFile(shards.Logs, job, i)}";
                }).ToList();
                throw new StageException(lines.Count == 1 ? $"{definition.Name}: {lines[0]}; the other shards are kept for the next run"
                    : $"{definition.Name}: {lines.Count} of {shards.Count} shards failed; the others are kept for the next run:\n  {string.Join("\n  ", lines)}");
            }
            log.Information("{StageName}: {Count} shards ran on Slurm in {Seconds:0.00} s", definition.Name, missing.Count, clock.Elapsed.TotalSeconds);
        }
        var merging = Stopwatch.StartNew();
        await shards.MergeAsync(stage, stages, workspace);
        log.Information("{StageName}: merged {Shards} shards in {Seconds:0.00} s", definition.Name, shards.Count, merging.Elapsed.TotalSeconds);
        workspace.Metrics["shards"] = shards.Count;
    }

    /// <summary>After the stage is recorded its shards are no longer needed.</summary>
    public static void Recorded(PipelineContext context, StageDefinition definition) =>
        new ShardSet(context.Store, definition, 0, 1).Delete();

    /// <summary>What a task runs: the target, an artifacts folder, and the run's parameters file, overrides and mirrors.</summary>
    internal static List<string> Arguments(PipelineSettings settings, string task, string artifacts, IEnumerable<string> sets)
    {
        var args = new List<string> { $"--target={task}", $"--artifacts={artifacts}", $"--verbosity={settings.Verbosity}" };
        if (settings.Parameters is { } parameters) args.Add($"--params={Path.GetFullPath(parameters)}");
        args.AddRange(sets.Select(s => $"--set={s}"));
        args.AddRange(settings.Mirrors.Select(m => $"--mirror={Downloader.ResolveMirror(m)}"));
        return args;
    }

    /// <summary>The job script: task i runs this host (the same build the run started) with the i-th arguments.</summary>
    static string WriteScript(string folder, IReadOnlyList<IReadOnlyList<string>> tasks) =>
        WriteScript(folder, tasks.Select((args, i) => (i, args)).ToDictionary(t => t.i, t => t.args));

    /// <summary>The job script: the task of each id runs this host (the same build the run started) with its arguments.</summary>
    internal static string WriteScript(string folder, IReadOnlyDictionary<int, IReadOnlyList<string>> tasks)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "task.sh");
        var text = new StringBuilder("#!/bin/sh\n# A Slurm array task of the pipeline: this host with the arguments of its task id.\ncase \"$SLURM_ARRAY_TASK_ID\" in\n");
        foreach (var (id, args) in tasks.OrderBy(t => t.Key))
            text.Append($"  {id}) exec {string.Join(' ', Host().Concat(args).Select(Quote))} ;;\n");
        text.Append("esac\necho \"no task $SLURM_ARRAY_TASK_ID in $0\" >&2\nexit 2\n");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>The command that started this host: dotnet with Build.dll, or the apphost alone.</summary>
    static IEnumerable<string> Host()
    {
        string process = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(SlurmExecutor).Assembly.Location] : [process];
    }

    static string Quote(string arg) => "'" + arg.Replace("'", "'\\''") + "'";

    /// <summary>
    /// <c>--shard=I/N</c>: shard I of the target in this process, without the artifacts lock (the run that submitted it
    /// holds it) and writing only into the shard's folder; its record, written last, marks it finished.
    /// </summary>
    public static async Task<int> RunShardAsync(PipelineSettings settings, PipelineParameters parameters, TaskInfo target, string root, string artifacts)
    {
        using var logger = HostLogging.Create(settings, artifacts, target.Name);
        var (index, count) = settings.Shard!.Value;
        try
        {
            if (target.Stage is not IShardable stage)
                throw new UsageException($"--shard: {target.Name} does not run per image (shardable: Export, Augment, Featurize)");
            var stages = new StageContext(new ArtifactStore(artifacts), parameters.Sections(), root,
                settings.Mirrors.Select(m => Downloader.ResolveMirror(m)).ToList(), logger, CancellationToken.None);
            var shards = new ShardSet(stages.Store, target.Stage.Define(stages), stage.Items(stages), count);
            if (shards.Count != count)
                throw new UsageException($"--shard={index}/{count}: {target.Name} has {shards.Items:N0} items, so at most {shards.Count} shards");
            var clock = Stopwatch.StartNew();
            logger.Information("{Task} shard {Index}/{Count} ({Range}) into {Folder}", target.Name, index, count, shards.Range(index), shards.Folder(index));
            await shards.RunAsync(stage, stages, index);
            logger.Information("{Task} shard {Index}/{Count}: finished in {Seconds:0.00} s", target.Name, index, count, clock.Elapsed.TotalSeconds);
            return 0;
        }
        catch (Exception e)
        {
            var error = CakeWiring.Unwrap(e);
            logger.Error("{Task} shard {Index}/{Count} failed: {Message:l}", target.Name, index, count, error.Message);
            return error is UsageException ? 2 : 1;
        }
    }

    /// <summary>
    /// Runs here, once, the stages of the target that none of <paramref name="keys"/> shapes (directly or through an
    /// upstream stage), so that runs apart (sweep points, study trials) restore them from the run cache. False when one failed.
    /// </summary>
    internal static async Task<bool> RunSharedAsync(PipelineSettings settings, IReadOnlySet<string> keys, PipelineParameters parameters,
        TaskCatalog catalog, TaskInfo target, string what, Func<PipelineSettings, PipelineParameters, TaskInfo, Task<int>> runLocally)
    {
        var closure = catalog.Closure(target).Where(t => t.Stage is not null).ToList();
        bool Shaped(Stage stage) => stage.Shapes.Any(keys.Contains) || stage.Upstream.Any(Shaped);
        var shared = closure.Where(t => !Shaped(t.Stage!)).ToList();
        var leaves = shared.Where(t => !shared.Any(o => o.DependsOn.Contains(t.Name))).ToList();
        var single = settings with { Sweeps = [], Search = null };
        foreach (var leaf in leaves)
        {
            settings.People.WriteLine($"\n== the stages every {what} shares, up to {leaf.Name}");
            if (await runLocally(single, parameters, leaf) != 0) return false;
        }
        return true;
    }

    /// <summary>Makes <paramref name="folder"/> an artifacts folder of its own whose <c>.cache</c> is a link to <paramref name="artifacts"/>' run cache.</summary>
    internal static void ShareCache(string folder, string artifacts)
    {
        string cache = ArtifactStore.CacheFolder(artifacts), link = ArtifactStore.CacheFolder(folder);
        Directory.CreateDirectory(cache);
        Directory.CreateDirectory(folder);
        if (!Directory.Exists(link)) Directory.CreateSymbolicLink(link, cache);
    }

    /// <summary>
    /// <c>--sweep</c> with <c>--executor=slurm</c>: one array job, task i running grid point i as a local run of its own
    /// in <c>artifacts/sweep/&lt;i&gt;/</c>, whose <c>.cache</c> is this folder's run cache. So the points take no lock
    /// from each other; the stages no swept key shapes run here first, once, and every point restores them from the
    /// cache; each full run is recorded in the shared experiment log, as locally.
    /// </summary>
    public static async Task<int> SweepAsync(PipelineSettings settings, IReadOnlyList<(IReadOnlyList<string> Point, PipelineParameters Parameters)> runs,
        TaskCatalog catalog, TaskInfo target, string artifacts, Func<PipelineSettings, PipelineParameters, TaskInfo, Task<int>> runLocally)
    {
        var swept = runs.SelectMany(r => r.Point).Select(p => p[..p.IndexOf('=')]).ToHashSet(StringComparer.Ordinal);
        if (!await RunSharedAsync(settings, swept, runs[0].Parameters, catalog, target, "sweep point", runLocally)) return 1;

        string sweep = Path.Combine(artifacts, "sweep");
        var tasks = new List<IReadOnlyList<string>>();
        for (int i = 0; i < runs.Count; i++)
        {
            string folder = Path.Combine(sweep, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            ShareCache(folder, artifacts);
            var args = Arguments(settings, target.Name, folder, [.. settings.Sets, .. runs[i].Point]);
            if (settings.Experiment is { } name) args.Add($"--experiment={name}");
            if (settings.NoCache) args.Add("--no-cache");
            tasks.Add(args);
        }

        using var logger = HostLogging.Create(settings, artifacts, target.Name);
        // The points share this folder's run cache: no CacheGc may evict from it meanwhile.
        using var held = ArtifactsLock.Acquire(artifacts, TimeSpan.FromSeconds(settings.LockWaitSeconds), m => logger.Warning("{Message:l}", m));
        var started = DateTimeOffset.UtcNow;
        var cluster = new SlurmCluster(runs[0].Parameters.Section<SlurmParameters>());
        string logs = Path.Combine(sweep, "logs");
        var indices = Enumerable.Range(0, runs.Count).ToList();
        string job = cluster.Submit(WriteScript(sweep, tasks), indices, "pipeline-sweep", logs, Environment.CurrentDirectory);
        logger.Information("sweep: {Points} points as Slurm job {Job}; each point's outputs in {Sweep}/<i>, logs in {Logs}", runs.Count, job, sweep, logs);
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancellation.Cancel(); };
        var ended = await cluster.WaitAsync(job, runs.Count, m => logger.Information("sweep: {Progress:l}", m), cancellation.Token);
        var failed = ended.Where(t => !t.Completed).Select(t => t.Index).Union(indices.Where(i => ended.All(t => t.Index != i))).Order().ToList();
        foreach (int i in failed)
            logger.Error("sweep point {Index}/{Count} ({Point}) FAILED: Slurm task {Job}_{Index} {Ending}; its log: {Log}", i + 1, runs.Count,
                string.Join(" ", runs[i].Point), job, i, ended.FirstOrDefault(t => t.Index == i)?.Ending ?? "did not run", SlurmCluster.LogFile(logs, job, i));
        var experiments = new Pipeline.Experiments.ExperimentLog(PipelineHost.ExperimentsFolder(artifacts)).All().Where(e => e.Created >= started).ToList();
        if (experiments.Count > 0)
            settings.People.WriteLine($"\nSweep of {runs.Count} points, best first:\n" + Pipeline.Experiments.ExperimentTable.Render(experiments, sortBy: settings.SortBy ?? Pipeline.Evaluation.MetricNames.Accuracy));
        settings.People.WriteLine($"\n{runs.Count - failed.Count} of {runs.Count} sweep points succeeded");
        return failed.Count == 0 ? 0 : 1;
    }
}
