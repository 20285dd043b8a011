using System.Runtime.CompilerServices;
using Build.Host;
using Pipeline.Parameters;
using Pipeline.Runtime;
using Pipeline.Stages;
using Serilog.Core;

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

/// <summary>The real stage declarations, run the way the host runs them.</summary>
static class TestStages
{
    /// <summary>The repository's params.json with these <c>section.key=value</c> overrides.</summary>
    public static PipelineParameters Parameters(params string[] overrides) =>
        ParameterSet.Load(Path.Combine(TestHost.Root, "params.json"), overrides).BindAll<PipelineParameters>();

    public static StageContext Context(ArtifactStore store, PipelineParameters parameters, IReadOnlyList<string>? mirrors = null) =>
        new(store, parameters.Sections(), TestHost.Root, mirrors ?? [], Logger.None, CancellationToken.None);

    /// <summary>Runs a stage through the engine as the host does.</summary>
    public static Task<StageRecord> Run(Stage stage, StageContext context) =>
        context.Store.RunAsync(stage.Define(context), (workspace, _) => stage.ProduceAsync(context, workspace), context.Cancellation);
}

/// <summary>
/// Tests that train share libtorch's process-wide settings (thread count, MKL path): they run one at a time, so a
/// test that sets one thread never changes the sums of another that compares bytes.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchCollection
{
    public const string Name = "libtorch";
}
