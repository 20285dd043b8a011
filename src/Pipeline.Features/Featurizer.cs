using System.Reflection;
using Microsoft.ML.OnnxRuntime;

namespace Pipeline.Features;

/// <summary>
/// The backbone as a featurizer in an ONNX Runtime session: preprocessed NCHW batches in, one vector of its pooled
/// features per image out. Made from the classifier file by <see cref="FeaturizerGraph"/> in memory; the file is never changed.
/// </summary>
public sealed class Featurizer : IDisposable
{
    readonly InferenceSession session;
    readonly RunOptions runOptions = new();
    readonly string inputName;

    Featurizer(InferenceSession session, string source, int dim) =>
        (this.session, Source, Dim, inputName) = (session, source, dim, session.InputNames[0]);

    /// <summary>The backbone file, for messages.</summary>
    public string Source { get; }

    /// <summary>How many features each image gets: the channels the backbone's classifier pools.</summary>
    public int Dim { get; }

    /// <summary>The ONNX Runtime version in use (the package's).</summary>
    public static string RuntimeVersion =>
        typeof(Featurizer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "onnxruntime")?.Value ?? "unknown";

    /// <summary>Loads the classifier at <paramref name="path"/> as a featurizer; <paramref name="threads"/> 0 lets ONNX Runtime choose.</summary>
    public static Featurizer Load(string path, int threads = 0)
    {
        string name = Path.GetFileName(path);
        byte[] classifier;
        try { classifier = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new FeaturizeException($"{path}: cannot read the backbone ({e.Message})", e); }
        var (featurizer, dim) = FeaturizerGraph.FromClassifier(classifier, name);
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        if (threads > 0)
            options.IntraOpNumThreads = threads;
        try
        {
            return new Featurizer(new InferenceSession(featurizer, options), name, dim);
        }
        catch (OnnxRuntimeException e)
        {
            throw new FeaturizeException($"{name}: ONNX Runtime cannot load the backbone ({e.Message.Trim()})", e);
        }
    }

    /// <summary>
    /// Runs <paramref name="count"/> images of <paramref name="size"/>×<paramref name="size"/> (CHW each, back to back
    /// in <paramref name="batch"/>) and writes their features, row after row, into <paramref name="features"/>.
    /// </summary>
    public void Run(Memory<float> batch, int count, int size, Memory<float> features)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch[..(count * 3 * size * size)], [count, 3, size, size]);
        using var output = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, features[..(count * Dim)], [count, Dim, 1, 1]);
        try
        {
            session.Run(runOptions, [inputName], [input], [FeaturizerGraph.FeaturesOutput], [output]);
        }
        catch (OnnxRuntimeException e)
        {
            throw new FeaturizeException($"{Source}: running the backbone on {count} images of {size}×{size} failed ({e.Message.Trim()})", e);
        }
    }

    public void Dispose()
    {
        runOptions.Dispose();
        session.Dispose();
    }
}
