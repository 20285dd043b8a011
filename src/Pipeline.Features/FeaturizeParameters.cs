using System.Text.RegularExpressions;
using Pipeline.Parameters;

namespace Pipeline.Features;

/// <summary>
/// The <c>featurize</c> section. The backbone's pin (SHA-256, size) and the input size shape the features; where the
/// backbone comes from, the batch size and the thread count only say how to get there, so they never rerun the stage.
/// </summary>
[ParameterSection("featurize")]
public sealed partial record FeaturizeParameters(
    string Backbone = FeaturizeParameters.ZooBackbone,
    string BackboneSha256 = FeaturizeParameters.ZooBackboneSha256,
    long BackboneBytes = FeaturizeParameters.ZooBackboneBytes,
    int InputSize = 64,
    int BatchSize = 64,
    int Threads = 0) : IValidatedParameters
{
    /// <summary>MobileNetV2-1.0 int8 from the ONNX Model Zoo (Apache-2.0).</summary>
    public const string ZooBackbone =
        "https://github.com/onnx/models/raw/main/validated/vision/classification/mobilenet/model/mobilenetv2-12-int8.onnx";
    public const string ZooBackboneSha256 = "cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f";
    public const long ZooBackboneBytes = 3_655_033;

    public static readonly int[] SupportedInputSizes = [32, 64, 96, 224];

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Backbone)) yield return "backbone must be a URL or a path to an .onnx file";
        else if (string.IsNullOrEmpty(BackboneFileName(Backbone))) yield return $"backbone must end with a file name, got '{Backbone}'";
        if (BackboneSha256 is null || !Sha256Hex().IsMatch(BackboneSha256)) yield return $"backbone_sha256 must be 64 lowercase hex digits, got '{BackboneSha256}'";
        if (BackboneBytes <= 0) yield return $"backbone_bytes must be > 0, got {BackboneBytes}";
        if (!SupportedInputSizes.Contains(InputSize)) yield return $"input_size must be one of {string.Join(", ", SupportedInputSizes)}, got {InputSize}";
        if (BatchSize is < 1 or > 1024) yield return $"batch_size must be between 1 and 1024, got {BatchSize}";
        if (Threads is < 0 or > 64) yield return $"threads must be between 0 (ONNX Runtime decides) and 64, got {Threads}";
    }

    /// <summary>
    /// The side the backbone sees images at: <see cref="InputSize"/>, or the images' larger side when that is larger
    /// (shrinking a photo would throw detail away that the backbone can use).
    /// </summary>
    public int InputSizeFor(int rows, int columns) => Math.Max(InputSize, Math.Max(rows, columns));

    /// <summary>The last segment of a URL or path: the name the backbone is stored and looked up in mirrors under.</summary>
    public static string BackboneFileName(string backbone) =>
        Uri.TryCreate(backbone, UriKind.Absolute, out var uri) && !uri.IsFile
            ? Path.GetFileName(uri.AbsolutePath)
            : Path.GetFileName(uri?.IsFile == true ? uri.LocalPath : backbone);

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
