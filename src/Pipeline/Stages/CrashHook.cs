using System.Diagnostics;
using System.Globalization;

namespace Pipeline.Stages;

/// <summary>
/// The crash tests' one hook: <c>PIPELINE_CRASH_AT=&lt;point&gt;</c> (or <c>&lt;point&gt;#&lt;n&gt;</c>) in the environment
/// makes the process say so on stderr and SIGKILL itself the first (n-th) time it reaches that point, as kill -9 or a
/// power cut would. The points: <c>commit-recorded</c>, <c>commit-swap</c>, <c>commit-swapped</c> (the engine's commit),
/// <c>shard-&lt;i&gt;</c> (shard i's outputs written, its record not yet) and <c>checkpoint</c> (each file operation of
/// Train's checkpointing). Without the variable a point does nothing.
/// </summary>
public static class CrashHook
{
    public const string Variable = "PIPELINE_CRASH_AT";

    static readonly Lazy<(string Point, int Count)?> Target = new(() => Parse(Environment.GetEnvironmentVariable(Variable)));
    static int reached;

    /// <summary>Marks point <paramref name="name"/>: the process dies here if the variable names it and this is the n-th time.</summary>
    public static void Point(string name)
    {
        if (Target.Value is not { } target || target.Point != name || Interlocked.Increment(ref reached) != target.Count)
            return;
        Console.Error.WriteLine($"{Variable}={name}#{target.Count}: killing the process");
        Console.Error.Flush();
        using var self = Process.GetCurrentProcess();
        self.Kill();
        Thread.Sleep(Timeout.Infinite);
    }

    static (string Point, int Count)? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        int hash = value.IndexOf('#');
        if (hash < 0) return (value, 1);
        return hash > 0 && int.TryParse(value[(hash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? (value[..hash], n)
            : throw new StageException($"{Variable}={value}: expected <point> or <point>#<n> with n ≥ 1");
    }
}
