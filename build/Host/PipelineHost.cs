using System.Diagnostics;
using System.Text.Json.Nodes;
using Pipeline;
using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Experiments;
using Pipeline.Features;
using Pipeline.Parameters;
using Pipeline.Prediction;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// A Frosting-style host on Cake.Core's engine: reads the command line and parameters, takes the artifacts lock,
/// runs the target with its dependencies, and ends every run with a summary table; a full run is recorded as an
/// experiment, and <c>--sweep</c> runs one per grid point. Exit codes: 0 success, 1 a task failed, 2 a usage or
/// parameter error.
/// </summary>
public static class PipelineHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        PipelineSettings settings;
        try
        {
            settings = CommandLine.Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        var catalog = TaskCatalog.Discover(typeof(PipelineHost).Assembly);
        if (settings.Help)
        {
            Console.WriteLine(CommandLine.Help(catalog.Tasks.Select(t => (t.Name, t.Description))));
            return 0;
        }
        if (settings.Tree)
        {
            Console.WriteLine(settings.Json ? catalog.TreeJson().ToJsonString(Pipeline.Stages.CanonicalJson.Options) : catalog.Tree());
            return 0;
        }

        string root = FindRoot();
        var target = catalog.Find(settings.Target ?? "Default");
        if (target is null)
        {
            Console.Error.WriteLine($"error: --target={settings.Target}: no such task (tasks: {string.Join(", ", catalog.Tasks.Select(t => t.Name))})");
            return 2;
        }

        // Paths the user gives are relative to the working directory; the defaults live beside build.sh.
        string artifacts = settings.Artifacts is { } given ? Path.GetFullPath(given) : Path.Combine(root, "artifacts");
        string parametersFile = settings.Parameters is { } file ? Path.GetFullPath(file) : Path.Combine(root, "params.json");
        if (settings.Trial is not null)
            return await SearchHost.RunTrialTaskAsync(settings, catalog, target, root, artifacts, parametersFile);
        if (settings.Search is not null)
            return await SearchHost.RunAsync(settings, catalog, target, root, artifacts, parametersFile);
        List<(IReadOnlyList<string> Point, PipelineParameters Parameters)> runs;
        try
        {
            // Every grid point is bound before anything runs: a bad sweep value stops the sweep at once.
            runs = [.. Sweep.Points(settings.Sweeps).Select(point => (point, Bind(settings, parametersFile, catalog, target, root, artifacts, point)))];
            CheckArtifactsFolder(artifacts, settings.DryRun);
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        if (settings.Shard is not null)
            return await SlurmExecutor.RunShardAsync(settings, runs[0].Parameters, target, root, artifacts);
        // A dry run submits nothing: each point is dry-run here, as a local sweep does.
        if (settings.Executor == "slurm" && runs.Count > 1 && !settings.DryRun)
            return await SlurmExecutor.SweepAsync(settings, runs, catalog, target, artifacts,
                async (one, parameters, task) => (await RunOnceAsync(one, parameters, catalog, task, root, artifacts)).ExitCode);
        if (runs.Count == 1)
        {
            var (exitCode, _, report, _, _) = await RunOnceAsync(settings, runs[0].Parameters, catalog, target, root, artifacts);
            return WriteReport(settings, report) ?? exitCode;
        }

        var ids = new List<string>();
        int failures = 0;
        var points = new JsonArray();
        foreach (var (point, parameters) in runs)
        {
            settings.People.WriteLine($"\n== sweep point {ids.Count + failures + 1}/{runs.Count}: {string.Join(" ", point)}");
            var (exitCode, experiment, report, _, _) = await RunOnceAsync(settings, parameters, catalog, target, root, artifacts);
            report["point"] = new JsonArray([.. point.Select(p => (JsonNode)p)]);
            points.Add(report);
            if (experiment is not null) ids.Add(experiment);
            if (exitCode != 0)
            {
                failures++;
                settings.People.WriteLine($"sweep point {string.Join(" ", point)} FAILED; the others go on");
            }
        }
        var log = new ExperimentLog(ExperimentsFolder(artifacts));
        var swept = log.All().Where(e => ids.Contains(e.Id)).ToList();
        if (swept.Count > 0)
            settings.People.WriteLine($"\nSweep of {runs.Count} points, best first:\n" + ExperimentTable.Render(swept, sortBy: settings.SortBy ?? MetricNames.Accuracy));
        settings.People.WriteLine($"\n{runs.Count - failures} of {runs.Count} sweep points succeeded");
        return WriteReport(settings, new JsonObject { ["points"] = points }) ?? (failures == 0 ? 0 : 1);
    }

    /// <summary>
    /// The parameters of one run: the file, the <c>--set</c>s, then <paramref name="point"/>'s assignments; what the run
    /// asks of its stages (the files --images names) is checked too, before anything is written.
    /// </summary>
    internal static PipelineParameters Bind(PipelineSettings settings, string parametersFile, TaskCatalog catalog, TaskInfo target,
        string root, string artifacts, IReadOnlyList<string> point)
    {
        var parameters = PipelineParameters.Bind(WithThreads(WithPredictOptions(
            ParameterSet.Load(parametersFile, [.. settings.Sets, .. point]), settings, catalog.Closure(target)), settings));
        var request = new StageContext(new ArtifactStore(artifacts), parameters.Sections(), root, [], Serilog.Core.Logger.None, CancellationToken.None);
        foreach (var stage in catalog.Closure(target).Select(t => t.Stage).OfType<Stage>())
            stage.CheckRequest(request);
        return parameters;
    }

    /// <summary>
    /// The run's JSON summary: into --report's file, and on stdout for a dry run with --format=json. Null when written;
    /// 2 when the file cannot be (the run's own exit code otherwise stands).
    /// </summary>
    internal static int? WriteReport(PipelineSettings settings, JsonObject report)
    {
        string json = report.ToJsonString(CanonicalJson.Options);
        if (settings.DryRun && settings.Json)
            Console.WriteLine(json);
        if (settings.Report is not { } file)
            return null;
        try
        {
            string path = Path.GetFullPath(file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path + ".partial", json + "\n");
            File.Move(path + ".partial", path, overwrite: true);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: --report={file}: cannot write it ({e.Message})");
            return 2;
        }
    }

    /// <summary>
    /// Thread counts a stage leaves to the run (0), set through the parameter layer like --set; none shapes an output.
    /// Under --jobs, ONNX Runtime gets its share of the cores, as libtorch keeps train.threads (which shapes results), so
    /// the stages that run side by side do not fight over the cores; a Slurm shard's stages use the CPUs it was given.
    /// </summary>
    static ParameterSet WithThreads(ParameterSet set, PipelineSettings settings)
    {
        int? threads = settings.Shard is not null && int.TryParse(Environment.GetEnvironmentVariable("SLURM_CPUS_PER_TASK"), out int cpus) && cpus > 0 ? cpus
            : settings.Jobs > 1 ? Math.Max(1, Environment.ProcessorCount / settings.Jobs) : null;
        if (threads is not { } n) return set;
        if (set.Bind<FeaturizeParameters>("featurize").Threads == 0) set.Set("featurize", "threads", n);
        if (settings.Shard is not null && set.Bind<Pipeline.Augmentation.AugmentParameters>("augment").Threads == 0) set.Set("augment", "threads", n);
        return set;
    }

    public static string ExperimentsFolder(string artifacts) => Path.Combine(ArtifactStore.CacheFolder(artifacts), "experiments");

    /// <summary>
    /// One run of the target. A successful full run (the Default target) is recorded as an experiment. <paramref name="onEpoch"/>
    /// hears every training epoch (a search's pruner); what stopped a failed run is returned with its log file.
    /// </summary>
    internal static async Task<(int ExitCode, string? Experiment, JsonObject Report, Exception? Error, string? Log)> RunOnceAsync(PipelineSettings settings,
        PipelineParameters parameters, TaskCatalog catalog, TaskInfo target, string root, string artifacts, EpochObserver? onEpoch = null)
    {
        using var logger = HostLogging.Create(settings, artifacts, target.Name);
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler cancel = (_, e) =>
        {
            e.Cancel = true;
            logger.Warning("cancelling: the running stage stops and records nothing");
            cancellation.Cancel();
        };
        Console.CancelKeyPress += cancel;

        ArtifactsLock? artifactsLock = null;
        RemoteCache? remote = null;
        var clock = Stopwatch.StartNew();
        PipelineContext? context = null;
        int exitCode = 0;
        string? experiment = null;
        Exception? failure = null;
        try
        {
            // --no-cache turns the shared cache off too: runs come from it and go to it through this machine's.
            remote = settings.CacheUrl is null || settings.NoCache ? null
                : new RemoteCache(settings.CacheUrl, logger, settings.CacheUpload, RemoteCache.Credentials(Environment.GetEnvironmentVariable));
            var store = new ArtifactStore(artifacts)
            {
                Cache = settings.NoCache ? null : new RunCache(ArtifactStore.CacheFolder(artifacts), m => logger.Warning("{Message:l}", m)) { Shared = remote },
            };
            // A lock-free task leaves the lock and the recovery of killed runs to the runs it may watch.
            if (!settings.DryRun && !Attribute.IsDefined(target.Type, typeof(LockFreeAttribute)))
            {
                artifactsLock = ArtifactsLock.Acquire(artifacts, TimeSpan.FromSeconds(settings.LockWaitSeconds), m => logger.Warning("{Message:l}", m));
                store.Recover(m => logger.Warning("{Message:l}", m));
            }
            var stages = new StageContext(store, parameters.Sections(), root,
                settings.Mirrors.Select(m => Downloader.ResolveMirror(m)).ToList(), logger, cancellation.Token) { OnEpoch = onEpoch };
            context = new PipelineContext(CakeWiring.CreateCakeContext(settings, logger), settings, parameters, stages, catalog, target, logger);
            await CakeWiring.RunAsync(context, catalog, target);
            if (!settings.DryRun && target.Name == "Default")
            {
                var recorded = new ExperimentLog(ExperimentsFolder(artifacts)).Record(ExperimentRun.Of(context, catalog.Closure(target), settings.Experiment));
                experiment = recorded.Id;
                logger.Information("experiment {Id}{Name}", recorded.Id, recorded.Name is null ? "" : $" ({recorded.Name})");
            }
        }
        catch (Exception e)
        {
            var error = failure = CakeWiring.Unwrap(e);
            exitCode = error is UsageException or ExperimentException or RemoteCacheException or Pipeline.Search.SearchException ? 2 : 1;
            if (error is Pipeline.Search.TrialPrunedException)
                logger.Information("{Message:l}", error.Message);
            else if (error is PipelineException or OperationCanceledException)
                logger.Error("{Message:l}", error.Message);
            else
                logger.Error(error, "{Message:l}", error.Message);
        }
        finally
        {
            artifactsLock?.Dispose();
            remote?.Dispose();
            Console.CancelKeyPress -= cancel;
        }

        if (context is { Report.Entries.Count: > 0 })
            settings.People.WriteLine("\n" + context.Report.ToTable(clock.Elapsed));
        string verdict = exitCode == 0 ? (settings.DryRun ? "Dry run finished" : "Succeeded") : failure is Pipeline.Search.TrialPrunedException ? "Pruned" : "FAILED";
        settings.People.WriteLine($"\n{verdict}: {target.Name} in {clock.Elapsed.TotalSeconds:0.00} s");
        // The run's store has read these records already (it keeps them): Export's is not parsed again.
        var report = (context?.Report ?? new RunReport()).ToJson(target.Name, exitCode, clock.Elapsed,
            task => context is not null && catalog.Find(task)?.Stage is { } stage ? context.Store.ReadRecord(stage.Name) : null);
        if (experiment is not null) report["experiment"] = experiment;
        return (exitCode, experiment, report, failure, HostLogging.FileOf(logger));
    }

    /// <summary>
    /// --images, --top and --model are the predict section's keys, so the stage reads them as it reads any parameter
    /// and they are in its fingerprint. The paths become absolute: they are relative to the working directory.
    /// </summary>
    static ParameterSet WithPredictOptions(ParameterSet set, PipelineSettings settings, IReadOnlyList<TaskInfo> closure)
    {
        if (settings is { Images.Count: 0, Top: null, Model: null })
            return set;
        if (!closure.Any(t => t.Stage is PredictStage))
            throw new UsageException("--images, --top and --model are options of --target=Predict");
        if (settings.Images.Count > 0)
            set.Set("predict", "images", new JsonArray([.. settings.Images.Select(i => JsonValue.Create(Path.GetFullPath(i)))]));
        if (settings.Top is { } top)
            set.Set("predict", "top", top);
        if (settings.Model is { } model)
            set.Set("predict", "model", Path.GetFullPath(model));
        return set;
    }

    /// <summary>An artifacts folder the run cannot use is a usage error, said at once, not a stack trace or a lock wait.</summary>
    static void CheckArtifactsFolder(string artifacts, bool dryRun)
    {
        if (File.Exists(artifacts))
            throw new UsageException($"--artifacts={artifacts}: is a file, not a folder");
        if (dryRun) return;
        try
        {
            Directory.CreateDirectory(artifacts);
            string probe = Path.Combine(artifacts, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--artifacts={artifacts}: cannot write there ({e.Message})");
        }
    }

    /// <summary>The repository root: the folder above the host's binaries that holds Pipeline.sln.</summary>
    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
                return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
