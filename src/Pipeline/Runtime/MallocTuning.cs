using System.Runtime.InteropServices;

namespace Pipeline.Runtime;

/// <summary>
/// The native heap under libtorch. build.sh preloads tcmalloc when it is installed: glibc's heap fragments around
/// libtorch's large aligned buffers (Train at 580×580, batch 4, held 1.4–2.0 GB for 0.4 GB live; tcmalloc 0.75 GB).
/// Under glibc, freed memory stays in the heap: returning large buffers to the OS and taking them back through page
/// faults made tensor training about ten times slower on these VMs.
/// </summary>
public static class MallocTuning
{
    const int M_TRIM_THRESHOLD = -1;
    const int M_MMAP_MAX = -4;

    static readonly Lazy<bool> applied = new(ApplyOnce);
    static readonly Lazy<string> allocator = new(Detect);

    /// <summary>The heap this process uses: "tcmalloc" (preloaded by build.sh), "glibc", or "system" elsewhere.</summary>
    public static string Allocator => allocator.Value;

    /// <summary>Call first thing in every process that trains. True when glibc accepted both settings.</summary>
    public static bool Apply() => applied.Value;

    static bool ApplyOnce()
    {
        if (Allocator != "glibc")
            return false;
        try
        {
            return mallopt(M_MMAP_MAX, 0) == 1 & mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl): nothing to tune
        }
    }

    static string Detect()
    {
        if (!OperatingSystem.IsLinux())
            return "system";
        try
        {
            return File.ReadLines("/proc/self/maps").Any(line => line.Contains("/libtcmalloc", StringComparison.Ordinal)) ? "tcmalloc" : "glibc";
        }
        catch (IOException)
        {
            return "glibc";
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
