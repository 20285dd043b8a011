using System.Runtime.InteropServices;

namespace Pipeline.Runtime;

/// <summary>
/// glibc returns large freed buffers to the OS and takes them back through page faults, which on these VMs made
/// tensor training about ten times slower. Keeping freed memory in the heap avoids that.
/// </summary>
public static class MallocTuning
{
    const int M_TRIM_THRESHOLD = -1;
    const int M_MMAP_MAX = -4;

    static readonly Lazy<bool> applied = new(ApplyOnce);

    /// <summary>Call first thing in every process that trains. True when glibc accepted both settings.</summary>
    public static bool Apply() => applied.Value;

    static bool ApplyOnce()
    {
        if (!OperatingSystem.IsLinux())
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

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
