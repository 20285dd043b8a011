using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Build.Host;

/// <summary>
/// The run's log: the console at the chosen verbosity, and (except in dry runs) a JSON file under artifacts/logs. Under
/// --jobs each line of a stage starts with its name (<see cref="ForStage"/>).
/// </summary>
public static class HostLogging
{
    public static Serilog.Core.Logger Create(PipelineSettings settings, string artifacts, string target)
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
            // With --format=json stdout is for JSON alone: every line of the log goes to stderr.
            .WriteTo.Console(restrictedToMinimumLevel: level, outputTemplate: "{Timestamp:HH:mm:ss} {Level:u3} {Stage}{Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: settings.Json ? LogEventLevel.Verbose : null);
        // A shard task writes only into its shard folder; Slurm keeps its console in the task's log.
        string? file = null;
        if (!settings.DryRun && settings.Shard is null)
        {
            string logs = Path.Combine(artifacts, "logs");
            Directory.CreateDirectory(logs);
            file = Path.Combine(logs, $"{DateTime.UtcNow:yyyyMMdd-HHmmss}-{target}-{Environment.ProcessId}.clef");
            configuration = configuration.WriteTo.File(new CompactJsonFormatter(), file, restrictedToMinimumLevel: LogEventLevel.Debug);
        }
        var logger = configuration.CreateLogger();
        if (file is not null) files.AddOrUpdate(logger, file);
        return logger;
    }

    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Serilog.Core.Logger, string> files = new();

    /// <summary>The file a logger of <see cref="Create"/> writes, or null (a dry run, a shard).</summary>
    public static string? FileOf(Serilog.Core.Logger logger) => files.TryGetValue(logger, out var file) ? file : null;

    public static Serilog.ILogger ForStage(Serilog.ILogger log, string task) => log.ForContext("Stage", $"[{task}] ");
}
