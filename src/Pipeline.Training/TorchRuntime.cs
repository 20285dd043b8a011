using System.Reflection;
using Pipeline.Runtime;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>Starts libtorch the way every training process needs it, and names the versions in use.</summary>
public static class TorchRuntime
{

    /// <summary>Versions and switches to record with every result that used TorchSharp.</summary>
    public static SortedDictionary<string, string> Versions => new(StringComparer.Ordinal)
    {
        ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown",
        ["libtorch"] = typeof(TorchRuntime).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "libtorch")?.Value ?? "unknown",
        ["torch_threads"] = get_num_threads().ToString(),
        ["mkl_cpu_path"] = MklCpuDispatch.State,
    };

    /// <summary>
    /// Prepares a training process: malloc tuning, then (before libtorch first calls MKL) the optional MKL CPU-path
    /// switch, then the thread count (0 = one per core).
    /// </summary>
    public static void Initialize(int threads, bool mklIntelPath, string cacheDirectory)
    {
        MallocTuning.Apply();
        if (mklIntelPath) MklCpuDispatch.ForceIntelPath(cacheDirectory);
        set_num_threads(threads > 0 ? threads : Environment.ProcessorCount);
    }
}
