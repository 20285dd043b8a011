using System.Reflection;
using Pipeline.Runtime;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>Starts libtorch the way every training process needs it, and names the versions in use.</summary>
public static class TorchRuntime
{
    /// <summary>Versions to record with every result that used TorchSharp.</summary>
    public static IReadOnlyDictionary<string, string> Versions => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown",
        ["libtorch"] = typeof(TorchRuntime).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "libtorch")?.Value ?? "unknown",
        ["torch_threads"] = get_num_threads().ToString(),
    };

    /// <summary>Applies the malloc tuning and sets the seed; call before the first tensor is made.</summary>
    public static void Initialize(long seed)
    {
        MallocTuning.Apply();
        random.manual_seed(seed);
    }
}
