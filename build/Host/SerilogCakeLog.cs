using Cake.Core.Diagnostics;
using Serilog.Events;

namespace Build.Host;

/// <summary>Cake's own log, written into Serilog so the run has one stream (console and JSON file).</summary>
public sealed class SerilogCakeLog(Serilog.ILogger logger, Verbosity verbosity) : ICakeLog
{
    public Verbosity Verbosity { get; set; } = verbosity;

    public void Write(Verbosity verbosity, LogLevel level, string format, params object[] args)
    {
        if (verbosity > Verbosity)
            return;
        string message = args is { Length: > 0 } ? string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args) : format;
        logger.ForContext("SourceContext", "Cake").Write(level switch
        {
            LogLevel.Fatal => LogEventLevel.Fatal,
            LogLevel.Error => LogEventLevel.Error,
            LogLevel.Warning => LogEventLevel.Warning,
            LogLevel.Information => LogEventLevel.Information,
            LogLevel.Verbose => LogEventLevel.Debug,
            _ => LogEventLevel.Verbose,
        }, "{CakeMessage:l}", message);
    }
}
