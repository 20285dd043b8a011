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
/// Cake.Core under the host: the context and services every task gets (file system, process runner, the CI build
/// system), each task's action, and its outcome written into the run report. The tasks run through
/// <see cref="TaskRunner"/>.
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

    /// <summary>The target and what it depends on, through the host's one task runner (sequential is --jobs=1).</summary>
    public static Task RunAsync(PipelineContext context, TaskCatalog catalog, TaskInfo target) => TaskRunner.RunAsync(context, catalog, target);

    public static AsyncFrostingTask<PipelineContext> Create(TaskInfo info) =>
        Activator.CreateInstance(info.Type) as AsyncFrostingTask<PipelineContext>
            ?? throw new InvalidOperationException($"{info.Type.Name} is not an AsyncFrostingTask<PipelineContext>");

    /// <summary>One task's action: ShouldRun, then RunAsync, then (unless a dry run) FinishAsync.</summary>
    public static async Task ExecuteAsync(AsyncFrostingTask<PipelineContext> task, PipelineContext context, string name)
    {
        if (task.ShouldRun(context))
            await task.RunAsync(context);
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
            report.Add(name, TaskOutcome.Executed, duration);
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
