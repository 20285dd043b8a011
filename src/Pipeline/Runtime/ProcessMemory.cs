namespace Pipeline.Runtime;

public static class ProcessMemory
{
    /// <summary>The process's peak resident set size (VmHWM) in bytes; null where /proc is not available.</summary>
    public static long? PeakResidentBytes() => Status("VmHWM:");

    /// <summary>The process's resident set size now (VmRSS) in bytes; null where /proc is not available.</summary>
    public static long? ResidentBytes() => Status("VmRSS:");

    static long? Status(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
