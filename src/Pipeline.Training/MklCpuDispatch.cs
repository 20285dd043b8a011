using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.Training;

/// <summary>
/// libtorch's MKL checks for an Intel CPU and takes a slower GEMM path on AMD. A one-line library that defines
/// <c>mkl_serv_intel_cpu_true</c> as 1, loaded globally before libtorch first calls MKL, makes MKL take the Intel
/// path (the same instructions exist on AMD; results differ only in low-order bits). It is compiled here with the
/// system C compiler into a cache folder; without a compiler MKL stays on its default path and the run says so.
/// </summary>
public static class MklCpuDispatch
{
    const string Source = "int mkl_serv_intel_cpu_true(void) { return 1; }\n";
    const int RTLD_NOW = 2, RTLD_GLOBAL = 0x100;
    static string? state;

    /// <summary>What the process uses: "intel (forced)", or "default" with the reason; recorded with results.</summary>
    public static string State => state ?? "default";

    /// <summary>Call before the first tensor operation. Safe to call more than once; never throws.</summary>
    public static string ForceIntelPath(string cacheDirectory)
    {
        if (state is not null) return state;
        if (!OperatingSystem.IsLinux()) return state = "default (the switch is implemented for Linux only)";
        try
        {
            string library = Path.Combine(cacheDirectory, $"mkl-intel-cpu-{ContentHashOf(Source)}.so");
            if (!File.Exists(library))
            {
                string? compiler = FindCompiler();
                if (compiler is null) return state = "default (no C compiler found to build the switch)";
                Directory.CreateDirectory(cacheDirectory);
                string source = Path.Combine(cacheDirectory, $"mkl-intel-cpu-{Environment.ProcessId}.c");
                string partial = library + $".{Environment.ProcessId}.tmp";
                File.WriteAllText(source, Source);
                var run = Process.Start(new ProcessStartInfo(compiler, ["-shared", "-fPIC", "-O2", "-o", partial, source])
                    { RedirectStandardError = true, RedirectStandardOutput = true })!;
                string errors = run.StandardError.ReadToEnd();
                run.WaitForExit();
                File.Delete(source);
                if (run.ExitCode != 0 || !File.Exists(partial))
                    return state = $"default ({Path.GetFileName(compiler)} failed: {errors.Trim()})";
                File.Move(partial, library, overwrite: true);
            }
            return state = dlopen(library, RTLD_NOW | RTLD_GLOBAL) != 0 ? "intel (forced)" : $"default (could not load {library})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception
                                      or DllNotFoundException or EntryPointNotFoundException)
        {
            return state = $"default ({e.Message})";
        }
    }

    static string? FindCompiler() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .SelectMany(folder => new[] { "cc", "gcc", "clang" }.Select(name => Path.Combine(folder, name)))
        .FirstOrDefault(File.Exists);

    static string ContentHashOf(string text) => Stages.ContentHash.OfText(text)[..12];

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern nint dlopen(string file, int mode);
}
