using System.Diagnostics;
using System.Reflection;
using Cake.Common.Build;
using Cake.Core;
using Cake.Core.Configuration;
using Cake.Core.Diagnostics;
using Cake.Core.IO;
using Path = System.IO.Path;
using Cake.Core.Packaging;
using Cake.Core.Tooling;
using Pipeline;
using Pipeline.Acquisition;
using Pipeline.Parameters;
using Pipeline.Stages;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Build.Host;

/// <summary>
/// A Frosting-style host on Cake.Core's engine: finds the task classes, registers them with their dependencies and
/// criteria, runs the target, and ends every run with a summary table. Exit codes: 0 success, 1 a task failed,
/// 2 a usage or parameter error.
/// </summary>
public static class PipelineHost
{
    sealed record TaskInfo(string Name, string Description, Type Type, IReadOnlyList<string> DependsOn);

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

        var tasks = DiscoverTasks();
        if (settings.Help)
        {
            Console.WriteLine(CommandLine.Help(tasks.Select(t => (t.Name, t.Description))));
            return 0;
        }
        if (settings.Tree)
        {
            Console.WriteLine(Tree(tasks));
            return 0;
        }

        string root = FindRoot();
        string target = settings.Target ?? "Default";
        var targetTask = tasks.FirstOrDefault(t => t.Name.Equals(target, StringComparison.OrdinalIgnoreCase));
        if (targetTask is null)
        {
            Console.Error.WriteLine($"error: --target={target}: no such task (tasks: {string.Join(", ", tasks.Select(t => t.Name))})");
            return 2;
        }

        ParameterSet parameterFile;
        PipelineParameters parameters;
        try
        {
            parameterFile = ParameterSet.Load(Path.GetFullPath(settings.ParametersFile, root), settings.Sets);
            parameters = parameterFile.BindAll<PipelineParameters>();
        }
        catch (ParameterException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        string artifacts = Path.GetFullPath(settings.Artifacts, root);
        using var logger = CreateLogger(settings, artifacts, targetTask.Name);
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
            if (!settings.DryRun)
                artifactsLock = ArtifactsLock.Acquire(artifacts, TimeSpan.FromSeconds(settings.LockWaitSeconds), m => logger.Warning("{Message:l}", m));
            context = CreateContext(settings, parameterFile, parameters, root, logger, cancellation.Token);
            context.Store.RemoveRetired();
            var engine = CreateEngine(context, tasks);
            var execution = new ExecutionSettings().SetTarget(targetTask.Name);
            if (settings.Exclusive)
                execution.UseExclusiveTarget();
            await engine.RunTargetAsync(context, new DefaultExecutionStrategy(context.Log, new ReportPrinter(logger)), execution);
        }
        catch (Exception e)
        {
            exitCode = 1;
            var error = Unwrap(e);
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
        Console.WriteLine($"\n{verdict}: {targetTask.Name} in {clock.Elapsed.TotalSeconds:0.00} s");
        return exitCode;
    }

    static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        { InnerException: { } inner } when e.GetType().Namespace?.StartsWith("Cake.") == true => Unwrap(inner),
        _ => e,
    };

    static string FirstLine(string message) =>
        message.Contains('\n') ? message[..message.IndexOf('\n')].TrimEnd(':') + " (details above)" : message;

    static IReadOnlyList<TaskInfo> DiscoverTasks()
    {
        var types = typeof(PipelineHost).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<TaskNameAttribute>() is not null)
            .ToList();
        var names = types.ToDictionary(t => t, t => t.GetCustomAttribute<TaskNameAttribute>()!.Name);
        var infos = types.Select(t => new TaskInfo(names[t], t.GetCustomAttribute<TaskDescriptionAttribute>()?.Description ?? "",
            t, t.GetCustomAttributes<IsDependentOnAttribute>().Select(d => names[d.Task]).ToList())).ToList();
        // Dependency order, so help and tree read like the pipeline.
        var ordered = new List<TaskInfo>();
        void Visit(TaskInfo task)
        {
            if (ordered.Contains(task)) return;
            foreach (var dependency in task.DependsOn) Visit(infos.Single(i => i.Name == dependency));
            ordered.Add(task);
        }
        foreach (var info in infos.OrderBy(i => i.Name == "Default")) Visit(info);
        return ordered;
    }

    static string Tree(IReadOnlyList<TaskInfo> tasks)
    {
        var lines = new List<string>();
        int width = tasks.Max(t => t.Name.Length);
        foreach (var task in tasks)
        {
            string after = task.DependsOn.Count == 0 ? "" : $"  ← {string.Join(", ", task.DependsOn)}";
            lines.Add($"{task.Name.PadRight(width)}  {task.Description}{after}");
        }
        return string.Join("\n", lines);
    }

    /// <summary>The repository root: the folder above the host's binaries that holds Pipeline.sln.</summary>
    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
                return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    static Serilog.Core.Logger CreateLogger(PipelineSettings settings, string artifacts, string target)
    {
        var level = settings.Verbosity switch
        {
            "quiet" => LogEventLevel.Error,
            "minimal" => LogEventLevel.Warning,
            "verbose" => LogEventLevel.Debug,
            "diagnostic" => LogEventLevel.Verbose,
            _ => LogEventLevel.Information,
        };
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .WriteTo.Console(restrictedToMinimumLevel: level, outputTemplate: "{Timestamp:HH:mm:ss} {Level:u3} {Message:lj}{NewLine}{Exception}");
        if (!settings.DryRun)
        {
            string logs = Path.Combine(artifacts, "logs");
            Directory.CreateDirectory(logs);
            configuration = configuration.WriteTo.File(new CompactJsonFormatter(),
                Path.Combine(logs, $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{target}-{Environment.ProcessId}.clef"),
                restrictedToMinimumLevel: LogEventLevel.Debug);
        }
        return configuration.CreateLogger();
    }

    static PipelineContext CreateContext(PipelineSettings settings, ParameterSet parameterFile, PipelineParameters parameters,
        string root, Serilog.ILogger logger, CancellationToken cancellation)
    {
        var verbosity = settings.Verbosity switch
        {
            "quiet" => Verbosity.Quiet,
            "minimal" => Verbosity.Minimal,
            "verbose" => Verbosity.Verbose,
            "diagnostic" => Verbosity.Diagnostic,
            _ => Verbosity.Normal,
        };
        var log = new SerilogCakeLog(logger, verbosity);
        var fileSystem = new FileSystem();
        var environment = new CakeEnvironment(new CakePlatform(), new CakeRuntime());
        var configuration = new CakeConfiguration(new Dictionary<string, string>());
        var globber = new Globber(fileSystem, environment);
        var toolRepository = new ToolRepository(environment);
        var tools = new ToolLocator(environment, toolRepository, new ToolResolutionStrategy(fileSystem, environment, globber, configuration, log));
        var arguments = new CakeArguments(settings.Raw.ToLookup(v => v.Key, v => v.Value, StringComparer.OrdinalIgnoreCase));
        var cake = new CakeContext(fileSystem, environment, globber, log, arguments,
            new ProcessRunner(fileSystem, environment, log, tools, configuration), new WindowsRegistry(), tools,
            new CakeDataService(), configuration, new NoToolInstaller(), EmptyServices.Instance);
        return new PipelineContext(cake, settings, parameterFile, parameters, root, logger)
        {
            Cancellation = cancellation,
        };
    }

    static CakeEngine CreateEngine(PipelineContext context, IReadOnlyList<TaskInfo> tasks)
    {
        var engine = new CakeEngine(new CakeDataService(), context.Log);
        foreach (var info in tasks)
        {
            var task = Activator.CreateInstance(info.Type) as AsyncFrostingTask<PipelineContext>
                ?? throw new InvalidOperationException($"{info.Type.Name} is not an AsyncFrostingTask<PipelineContext>");
            var builder = engine.RegisterTask(info.Name).Description(info.Description);
            foreach (var dependency in info.DependsOn)
                builder.IsDependentOn(dependency);
            // ShouldRun is checked inside the action, not as Cake criteria: Cake fails a run whose target is skipped
            // by its criteria, and an up-to-date target is a success.
            builder.Does(async c =>
            {
                var pipeline = (PipelineContext)c;
                if (task.ShouldRun(pipeline))
                    await task.RunAsync(pipeline);
                else
                    pipeline.Report.Skipped(info.Name);
                if (!pipeline.Settings.DryRun)
                    await task.FinishAsync(pipeline);
            });
        }

        var ci = context.BuildSystem();
        var started = new Dictionary<string, long>();
        engine.RegisterTaskSetupAction(setup =>
        {
            if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.StartGroup(setup.Task.Name);
            else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.BeginGroup(setup.Task.Name);
        });
        engine.RegisterTaskTeardownAction(teardown =>
        {
            var report = context.Report;
            string name = teardown.Task.Name;
            if (!teardown.Successful)
                report.Add(name, TaskOutcome.Failed, teardown.Duration, FirstLine(Unwrap(teardown.ThrownException!).Message));
            else if (!report.Entries.Any(e => e.Task == name) && name != "Default")
                report.Add(name, report.WasSkipped(name) ? TaskOutcome.UpToDate : TaskOutcome.Executed, teardown.Duration);
            if (ci.IsRunningOnGitHubActions) ci.GitHubActions.Commands.EndGroup();
            else if (ci.IsRunningOnAzurePipelines) ci.AzurePipelines.Commands.EndGroup();
        });
        return engine;
    }

    /// <summary>Cake's per-task step lines, through Serilog.</summary>
    sealed class ReportPrinter(Serilog.ILogger logger) : ICakeReportPrinter
    {
        public void Write(CakeReport report) { }
        public void WriteLifeCycleStep(string name, Verbosity verbosity) => logger.Debug("── {Step} ──", name);
        public void WriteStep(string name, Verbosity verbosity) => logger.Debug("── {Task} ──", name);
        public void WriteSkippedStep(string name, Verbosity verbosity) => logger.Debug("{Task}: skipped", name);
    }

    sealed class EmptyServices : IServiceProvider
    {
        public static readonly EmptyServices Instance = new();
        public object? GetService(Type serviceType) => null;
    }

    /// <summary>This host takes its tools from NuGet packages of the solution, not from #tool directives.</summary>
    sealed class NoToolInstaller : IToolInstaller
    {
        public IEnumerable<FilePath> Install(PackageReference tool) =>
            throw new NotSupportedException($"installing tool '{tool.Package}' is not supported: add it as a package reference of build/Build.csproj");
    }
}
