using System.Reflection;
using Cake.Common.Build;
using Cake.Core;
using Cake.Core.Configuration;
using Cake.Core.Diagnostics;
using Cake.Core.IO;
using Cake.Core.Packaging;
using Cake.Core.Tooling;

namespace Build.Host;

/// <summary>
/// Cake.Core's engine under the host: its context and services, the tasks registered with their dependencies, and
/// each task's outcome written into the run report.
/// </summary>
public static class CakeWiring
{
    public static ICakeContext CreateCakeContext(PipelineSettings settings, Serilog.ILogger logger)
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
        var tools = new ToolLocator(environment, new ToolRepository(environment), new ToolResolutionStrategy(fileSystem, environment, globber, configuration, log));
        return new CakeContext(fileSystem, environment, globber, log, new CakeArguments(Enumerable.Empty<string>().ToLookup(a => a)),
            new ProcessRunner(fileSystem, environment, log, tools, configuration), new WindowsRegistry(), tools,
            new CakeDataService(), configuration, new NoToolInstaller(), EmptyServices.Instance);
    }

    public static async Task RunAsync(PipelineContext context, TaskCatalog catalog, TaskInfo target)
    {
        if (context.Settings.Jobs > 1)
        {
            await ParallelRunner.RunAsync(context, catalog, target);
            return;
        }
        var engine = new CakeEngine(new CakeDataService(), context.Log);
        foreach (var info in catalog.Tasks)
        {
            var task = Create(info);
            var builder = engine.RegisterTask(info.Name).Description(info.Description);
            foreach (var dependency in info.DependsOn)
                builder.IsDependentOn(dependency);
            builder.Does(c => ExecuteAsync(task, (PipelineContext)c, info.Name));
        }

        var groups = new CiLogGroups(context.BuildSystem());
        engine.RegisterTaskSetupAction(groups.Setup);
        engine.RegisterTaskTeardownAction(teardown =>
        {
            Finished(context, teardown.Task.Name, teardown.Duration, teardown.Successful ? null : teardown.ThrownException);
            groups.Teardown(teardown);
        });

        var execution = new ExecutionSettings().SetTarget(target.Name);
        if (context.Settings.Exclusive)
            execution.UseExclusiveTarget();
        await engine.RunTargetAsync(context, new DefaultExecutionStrategy(context.Log, new ReportPrinter(context.Logger)), execution);
    }

    public static AsyncFrostingTask<PipelineContext> Create(TaskInfo info) =>
        Activator.CreateInstance(info.Type) as AsyncFrostingTask<PipelineContext>
            ?? throw new InvalidOperationException($"{info.Type.Name} is not an AsyncFrostingTask<PipelineContext>");

    /// <summary>
    /// One task's action. ShouldRun is checked here, not as Cake criteria: Cake fails a run whose target is skipped by
    /// its criteria, and an up-to-date target is a success.
    /// </summary>
    public static async Task ExecuteAsync(AsyncFrostingTask<PipelineContext> task, PipelineContext context, string name)
    {
        if (task.ShouldRun(context))
            await task.RunAsync(context);
        else
            context.Report.Skipped(name);
        if (!context.Settings.DryRun)
            await task.FinishAsync(context);
    }

    /// <summary>A task's outcome into the run report, unless the task reported one itself.</summary>
    public static void Finished(PipelineContext context, string name, TimeSpan duration, Exception? error)
    {
        var report = context.Report;
        if (error is not null)
            report.Add(name, TaskOutcome.Failed, duration, FirstLine(Unwrap(error).Message));
        else if (!report.Entries.Any(e => e.Task == name) && name != "Default")
            report.Add(name, report.WasSkipped(name) ? TaskOutcome.UpToDate : TaskOutcome.Executed, duration);
    }

    /// <summary>The exception a task threw, out of Cake's and reflection's wrappers.</summary>
    public static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        { InnerException: { } inner } when e.GetType().Namespace?.StartsWith("Cake.") == true => Unwrap(inner),
        _ => e,
    };

    static string FirstLine(string message) =>
        message.Contains('\n') ? message[..message.IndexOf('\n')].TrimEnd(':') + " (details above)" : message;

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
