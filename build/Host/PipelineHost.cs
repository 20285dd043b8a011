using System.Diagnostics;
using System.Text.Json.Nodes;
using Pipeline;
using Pipeline.Acquisition;
using Pipeline.Parameters;
using Pipeline.Prediction;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// A Frosting-style host on Cake.Core's engine: reads the command line and parameters, takes the artifacts lock,
/// runs the target with its dependencies, and ends every run with a summary table. Exit codes: 0 success, 1 a task
/// failed, 2 a usage or parameter error.
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
            Console.WriteLine(catalog.Tree());
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
        PipelineParameters parameters;
        try
        {
            var set = ParameterSet.Load(settings.Parameters is { } file ? Path.GetFullPath(file) : Path.Combine(root, "params.json"), settings.Sets);
            parameters = WithPredictOptions(set, settings, catalog.Closure(target)).BindAll<PipelineParameters>();
            // What the run asks of its stages (the files --images names) is checked before anything is written.
            var request = new StageContext(new ArtifactStore(artifacts), parameters.Sections(), root, [], Serilog.Core.Logger.None, CancellationToken.None);
            foreach (var stage in catalog.Closure(target).Select(t => t.Stage).OfType<Stage>())
                stage.CheckRequest(request);
            CheckArtifactsFolder(artifacts, settings.DryRun);
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        using var logger = HostLogging.Create(settings, artifacts, target.Name);
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            logger.Warning("cancelling: the running stage stops and records nothing");
            cancellation.Cancel();
        };

        ArtifactsLock? artifactsLock = null;
        var clock = Stopwatch.StartNew();
        PipelineContext? context = null;
        int exitCode = 0;
        try
        {
            var store = new ArtifactStore(artifacts);
            if (!settings.DryRun)
            {
                artifactsLock = ArtifactsLock.Acquire(artifacts, TimeSpan.FromSeconds(settings.LockWaitSeconds), m => logger.Warning("{Message:l}", m));
                store.Recover(m => logger.Warning("{Message:l}", m));
            }
            var stages = new StageContext(store, parameters.Sections(), root,
                settings.Mirrors.Select(m => Downloader.ResolveMirror(m)).ToList(), logger, cancellation.Token);
            context = new PipelineContext(CakeWiring.CreateCakeContext(settings, logger), settings, parameters, stages, catalog, target, logger);
            await CakeWiring.RunAsync(context, catalog, target);
        }
        catch (Exception e)
        {
            exitCode = 1;
            var error = CakeWiring.Unwrap(e);
            if (error is PipelineException or OperationCanceledException)
                logger.Error("{Message:l}", error.Message);
            else
                logger.Error(error, "{Message:l}", error.Message);
        }
        finally
        {
            artifactsLock?.Dispose();
        }

        if (context is { Report.Entries.Count: > 0 })
            Console.WriteLine("\n" + context.Report.ToTable());
        string verdict = exitCode == 0 ? (settings.DryRun ? "Dry run finished" : "Succeeded") : "FAILED";
        Console.WriteLine($"\n{verdict}: {target.Name} in {clock.Elapsed.TotalSeconds:0.00} s");
        return exitCode;
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
