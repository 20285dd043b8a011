using System.Diagnostics;
using Serilog;

namespace Pipeline;

/// <summary>
/// Thread-safe progress for long loops: call <see cref="Add"/> as work completes; a line with count, share and rate
/// is logged at most once per interval, and once at the end from <see cref="Complete"/>.
/// </summary>
public sealed class Progress
{
    readonly ILogger log;
    readonly string label, unit;
    readonly long total, intervalTicks;
    readonly Stopwatch clock = Stopwatch.StartNew();
    long done, nextReport;

    public Progress(ILogger log, string label, long total, string unit, TimeSpan? interval = null)
    {
        (this.log, this.label, this.total, this.unit) = (log, label, total, unit);
        intervalTicks = (long)((interval ?? TimeSpan.FromSeconds(2)).TotalSeconds * Stopwatch.Frequency);
        nextReport = Stopwatch.GetTimestamp() + intervalTicks;
    }

    public long Done => Interlocked.Read(ref done);

    public void Add(long amount)
    {
        Interlocked.Add(ref done, amount);
        long now = Stopwatch.GetTimestamp(), due = Interlocked.Read(ref nextReport);
        if (now >= due && Interlocked.CompareExchange(ref nextReport, now + intervalTicks, due) == due)
            Report();
    }

    public void Complete() => Report();

    void Report()
    {
        double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-6);
        long count = Done;
        log.Information("{Label}: {Done} / {Total}{Unit} ({Percent:0}%), {Rate}/s", label, Format(count), Format(total), unit == "bytes" ? "" : " " + unit,
            total > 0 ? 100.0 * count / total : 100, Format((long)(count / seconds)));
    }

    string Format(long value) => unit == "bytes" ? Bytes(value) : value.ToString("N0");

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };
}
