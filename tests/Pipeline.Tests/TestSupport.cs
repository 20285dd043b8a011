using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using Build.Host;
using Pipeline.Parameters;
using System.Text;
using Pipeline.Runtime;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

static class TestHost
{
    /// <summary>
    /// Starts <paramref name="start"/> with SIGINT's default action, as a terminal's Ctrl-C finds it: a test run started
    /// in the background ignores SIGINT, its children inherit that, and .NET then never hears a Ctrl-C.
    /// </summary>
    public static System.Diagnostics.Process StartInterruptible(System.Diagnostics.ProcessStartInfo start)
    {
        start.ArgumentList.Insert(0, start.FileName);
        start.ArgumentList.Insert(0, "--default-signal=INT");
        start.FileName = "env";
        return System.Diagnostics.Process.Start(start)!;
    }

    // The test host trains too: same malloc tuning as the build host, before anything allocates much.
    [ModuleInitializer]
    internal static void Initialize() => MallocTuning.Apply();

    /// <summary>The repository root (holds Pipeline.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The offline MNIST mirror that CI and developers have beside the repository.</summary>
    public static string MnistMirror => Path.GetFullPath(Path.Combine(Root, "..", "shared", "datasets", "mnist"));

    /// <summary>The offline Fashion-MNIST mirror (Debian's copy: other gzip headers than upstream's, the same payload).</summary>
    public static string FashionMirror => Path.GetFullPath(Path.Combine(Root, "..", "shared", "datasets", "fashion-mnist"));

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
        PipelineParameters.Bind(ParameterSet.Load(Path.Combine(TestHost.Root, "params.json"), overrides));

    public static StageContext Context(ArtifactStore store, PipelineParameters parameters, IReadOnlyList<string>? mirrors = null) =>
        new(store, parameters.Sections(), TestHost.Root, mirrors ?? [], Logger.None, CancellationToken.None);

    /// <summary>A context whose section of <paramref name="section"/>'s type is <paramref name="section"/>, the others from <paramref name="parameters"/>.</summary>
    public static StageContext Context(ArtifactStore store, PipelineParameters parameters, object section) =>
        new(store, parameters.Sections().ToDictionary(s => s.Key, s => s.Value.GetType() == section.GetType() ? section : s.Value),
            TestHost.Root, [], Logger.None, CancellationToken.None);

    /// <summary>Runs a stage through the engine (staging, record, swap), as the host runs it locally once <see cref="StageRunner"/> has decided it runs.</summary>
    public static Task<StageRecord> Run(Stage stage, StageContext context) =>
        context.Store.RunAsync(stage.Define(context), (workspace, _) => stage.ProduceAsync(context, workspace), context.Cancellation);

    /// <summary>A completed stage's outputs, from its output list (checked against its record).</summary>
    public static List<OutputFile>? Outputs(this ArtifactStore store, string stage) =>
        store.ReadRecord(stage) is { } record ? OutputManifest.Read(store.StageDirectory(stage), record) : null;
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

/// <summary>Gzip files as mirrors serve them: the same payload may come in different wrappers.</summary>
static class GzipFile
{
    public static byte[] Compress(byte[] payload, CompressionLevel level = CompressionLevel.Fastest) =>
        Compress(payload, gzip => new GZipStream(gzip, level));

    static byte[] Compress(byte[] payload, Func<Stream, GZipStream> open)
    {
        using var buffer = new MemoryStream();
        using (var gzip = open(buffer)) gzip.Write(payload);
        return buffer.ToArray();
    }

    public static byte[] Decompress(byte[] file)
    {
        using var gzip = new GZipStream(new MemoryStream(file), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>
    /// The same deflate data and trailer under another header: a stored file name and comment (FNAME, FCOMMENT) and
    /// a time stamp. Takes a file whose header has no optional fields, as .NET and Debian write them.
    /// </summary>
    public static byte[] Rewrap(byte[] file, string? name = null, string? comment = null, uint mtime = 0)
    {
        if (file[3] != 0) throw new ArgumentException("the header already has optional fields", nameof(file));
        var header = file[..10];
        header[3] = (byte)((name is null ? 0 : 0x08) | (comment is null ? 0 : 0x10));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4, 4), mtime);
        byte[] Field(string? text) => text is null ? [] : [.. Encoding.Latin1.GetBytes(text), 0];
        return [.. header, .. Field(name), .. Field(comment), .. file[10..]];
    }

    /// <summary><paramref name="payload"/> compressed anew and padded with a comment to exactly <paramref name="size"/> bytes.</summary>
    public static byte[] WithSize(byte[] payload, int size)
    {
        // Huffman coding alone suits data without repeats (labels); the smaller of the two leaves room to pad.
        var file = new[] { ZLibCompressionStrategy.Default, ZLibCompressionStrategy.HuffmanOnly }
            .Select(strategy => Compress(payload, gzip => new GZipStream(gzip, new ZLibCompressionOptions { CompressionLevel = 9, CompressionStrategy = strategy })))
            .MinBy(f => f.Length)!;
        if (file.Length + 1 > size) throw new InvalidOperationException($"compressed to {file.Length:N0} bytes, no room to pad to {size:N0}");
        return Rewrap(file, comment: new string('x', size - file.Length - 1));
    }
}
