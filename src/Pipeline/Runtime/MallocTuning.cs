using System.Runtime.InteropServices;

namespace Pipeline.Runtime;

/// <summary>
/// glibc returns large freed buffers to the OS and takes them back through page faults, which on these VMs made
/// tensor training about ten times slower. Keeping freed memory in the heap avoids that, but the heap must then stay
/// reusable. libtorch asks for 64-byte-aligned buffers, which glibc 2.36 cuts with small slivers at their ends; a
/// sliver kept in a fast bin or a thread's cache counts as in use, so the freed buffers beside it cannot merge and the
/// next buffer of the same size does not fit; a thread's own arena keeps its own peak. Train on 580×580 images held
/// 1.5–1.9 GB for 0.4 GB of live allocations. Fast bins are off here; build.sh sets what glibc reads only at a
/// process's start (one arena, a one-chunk thread cache): Train there peaks at 1.1 GB, MNIST trains as fast.
/// </summary>
public static class MallocTuning
{
    const int M_MXFAST = 1;
    const int M_TRIM_THRESHOLD = -1;
    const int M_MMAP_MAX = -4;

    static readonly Lazy<bool> applied = new(ApplyOnce);

    /// <summary>Call first thing in every process that trains. True when glibc accepted every setting.</summary>
    public static bool Apply() => applied.Value;

    static bool ApplyOnce()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return mallopt(M_MMAP_MAX, 0) == 1 & mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1 & mallopt(M_MXFAST, 0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl): nothing to tune
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
