using System.Runtime.CompilerServices;
using Pipeline.Runtime;

namespace Pipeline.Tests;

static class TestHost
{
    // The test host trains too: same malloc tuning as the build host, before anything allocates much.
    [ModuleInitializer]
    internal static void Initialize() => MallocTuning.Apply();

    /// <summary>The repository root (holds Pipeline.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The offline MNIST mirror that CI and developers have beside the repository.</summary>
    public static string MnistMirror => Path.GetFullPath(Path.Combine(Root, "..", "shared", "datasets", "mnist"));

    /// <summary>The offline mirror of the ImageNet backbone (MobileNetV2 int8) and its featurizer cross-check.</summary>
    public static string ModelsMirror => Path.GetFullPath(Path.Combine(Root, "..", "shared", "models"));

    /// <summary>A file from a mirror beside the repository; missing, the test fails saying which file (never skips).</summary>
    public static string Required(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: the tests need the offline mirrors beside the repository", path);

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fresh folder, deleted at the end of the test.</summary>
sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("pipeline-test-").FullName;

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
