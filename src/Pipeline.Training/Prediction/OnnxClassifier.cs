using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Imaging;
using Pipeline.Onnx;

namespace Pipeline.Prediction;

/// <summary>
/// A classifier file of the project's form (<see cref="ClassifierOnnx"/>: input <c>images</c> [N, C, H, W], output
/// <c>probabilities</c>, class names in its metadata) in ONNX Runtime: image bytes in, probabilities out. The file
/// alone says what it takes, so it runs without the parameters or the model card that made it.
/// </summary>
public sealed class OnnxClassifier : IDisposable
{
    const int BatchSize = 256;

    readonly InferenceSession session;
    readonly RunOptions runOptions = new();

    OnnxClassifier(InferenceSession session, string path, IReadOnlyList<string> classes, int[] shape, FramingStatistics? framing) =>
        (this.session, Path, Classes, Channels, Rows, Columns, Framing) = (session, path, classes, shape[1], shape[2], shape[3], framing);

    public string Path { get; }
    public IReadOnlyList<string> Classes { get; }
    public int Channels { get; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>How the model's training images are framed (its metadata's <c>framing</c>), or null when the file does not say.</summary>
    public FramingStatistics? Framing { get; }

    public static OnnxClassifier Load(string path)
    {
        InferenceSession session;
        try
        {
            using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new PredictException($"{path}: ONNX Runtime cannot load it ({e.Message.Trim()})");
        }
        try
        {
            if (!session.InputMetadata.TryGetValue(ClassifierOnnx.ImagesInput, out var input) || input.Dimensions.Length != 4 || input.Dimensions[1..].Any(d => d <= 0))
                throw new PredictException($"{path}: expected an input '{ClassifierOnnx.ImagesInput}' [N, C, H, W] with C, H and W fixed, "
                    + $"got {string.Join(", ", session.InputMetadata.Select(i => $"'{i.Key}' [{string.Join(", ", i.Value.Dimensions)}]"))}");
            if (!session.OutputMetadata.TryGetValue(ClassifierOnnx.ProbabilitiesOutput, out var output))
                throw new PredictException($"{path}: no output '{ClassifierOnnx.ProbabilitiesOutput}' (outputs: {string.Join(", ", session.OutputMetadata.Keys)})");
            var metadata = session.ModelMetadata.CustomMetadataMap;
            var classes = metadata.TryGetValue("classes", out var names) ? ClassNames(names) : null;
            if (classes is null || output.Dimensions[^1] != classes.Length)
                throw new PredictException($"{path}: its metadata must name the {output.Dimensions[^1]} classes (\"classes\": a JSON array of names)");
            // The file says how its input is scaled; this class feeds pixels / 255, as training does.
            if (metadata.TryGetValue("input_scale", out var scale) && !(double.TryParse(scale, CultureInfo.InvariantCulture, out var s) && Math.Abs(s - 1.0 / 255) < 1e-12))
                throw new PredictException($"{path}: takes its input scaled by {scale}; images here are fed as pixel bytes / 255");
            FramingStatistics? framing = null;
            if (metadata.TryGetValue(FramingStatistics.MetadataKey, out var json))
            {
                try { framing = FramingStatistics.FromJson(json, path); }
                catch (ImageException e) { throw new PredictException(e.Message); }
                if (framing.Rows != input.Dimensions[2] || framing.Columns != input.Dimensions[3])
                    throw new PredictException($"{path}: its framing is for {framing.Rows}×{framing.Columns} images, its input {input.Dimensions[2]}×{input.Dimensions[3]}");
            }
            return new OnnxClassifier(session, path, classes, input.Dimensions, framing);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    static string[]? ClassNames(string json)
    {
        try { return JsonSerializer.Deserialize<string[]>(json); }
        catch (JsonException) { return null; }
    }

    /// <summary>Bytes per image: <see cref="Channels"/> planes of <see cref="Rows"/> × <see cref="Columns"/>.</summary>
    public int ImageLength => Channels * Rows * Columns;

    /// <summary>The probabilities of each image (<see cref="ImageLength"/> bytes each), row-major Count × classes.</summary>
    public float[] Probabilities(IReadOnlyList<byte[]> images)
    {
        int classes = Classes.Count;
        var probabilities = new float[images.Count * classes];
        var batch = new float[Math.Min(BatchSize, images.Count) * ImageLength];
        for (int start = 0; start < images.Count; start += BatchSize)
        {
            int count = Math.Min(BatchSize, images.Count - start);
            for (int i = 0; i < count; i++)
                Scale(images[start + i], batch.AsSpan(i * ImageLength, ImageLength));
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.AsMemory(0, count * ImageLength), [count, Channels, Rows, Columns]);
            using var output = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, probabilities.AsMemory(start * classes, count * classes), [count, classes]);
            try
            {
                session.Run(runOptions, [ClassifierOnnx.ImagesInput], [input], [ClassifierOnnx.ProbabilitiesOutput], [output]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new PredictException($"{Path}: running it on {count} images failed ({e.Message.Trim()})");
            }
        }
        return probabilities;
    }

    /// <summary>Pixel bytes / 255 as float32: what <c>LabelledTensors</c> gives the models in training, bit for bit.</summary>
    public static void Scale(ReadOnlySpan<byte> pixels, Span<float> input)
    {
        if (input.Length != pixels.Length) throw new ArgumentException($"{pixels.Length} pixels, {input.Length} inputs", nameof(input));
        for (int i = 0; i < pixels.Length; i++) input[i] = pixels[i] / 255f;
    }

    public void Dispose()
    {
        runOptions.Dispose();
        session.Dispose();
    }
}
