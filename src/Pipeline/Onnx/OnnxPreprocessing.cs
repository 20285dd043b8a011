using System.Globalization;
using Pipeline.Imaging;

namespace Pipeline.Onnx;

/// <summary>
/// What a caller does to its data before an exported model sees it, written into the file's metadata_props so that
/// another tool can feed the model without this code.
/// </summary>
/// <param name="Layout">The input's layout, e.g. <c>NCHW</c>.</param>
/// <param name="Scale">Input value = raw value × <paramref name="Scale"/> (pixel bytes → 0..1 is 1/255).</param>
/// <param name="Description">The same in words, with anything the numbers do not say.</param>
/// <param name="Framing">How the training images are framed (<see cref="Imaging.Framing"/>), for images of another framing.</param>
public sealed record OnnxPreprocessing(string Layout, double Scale, string Description, FramingStatistics? Framing = null)
{
    /// <summary>Gray pixel bytes / 255, as the CNNs are trained on them.</summary>
    public static OnnxPreprocessing GrayPixels { get; } =
        new("NCHW", 1.0 / 255, "gray pixel bytes / 255 as float32 (0 = black, 1 = white), one channel, rows top to bottom");

    /// <summary>RGB pixel bytes / 255, as the CNNs are trained on them.</summary>
    public static OnnxPreprocessing RgbPixels { get; } =
        new("NCHW", 1.0 / 255, "RGB pixel bytes / 255 as float32 (0 = none, 1 = full), three channels R, G, B (planes, not interleaved), rows top to bottom");

    /// <summary>The pixels of images with <paramref name="channels"/> channels (1 gray, 3 RGB).</summary>
    public static OnnxPreprocessing Pixels(int channels) => channels switch
    {
        1 => GrayPixels,
        3 => RgbPixels,
        _ => throw new ArgumentException($"images have 1 (gray) or 3 (RGB) channels, not {channels}", nameof(channels)),
    };

    /// <summary>The pixels of images with <paramref name="channels"/> channels, framed as <paramref name="framing"/> says.</summary>
    public static OnnxPreprocessing Pixels(int channels, FramingStatistics framing) => Pixels(channels) with
    {
        Framing = framing,
        Description = Pixels(channels).Description + $"; an image not framed like the training images is framed first: see \"{FramingStatistics.MetadataKey}\"",
    };

    /// <summary>Feature vectors as they are (a classifier head's input); <paramref name="source"/> says what made them.</summary>
    public static OnnxPreprocessing Features(string source) => new("NC", 1, $"feature vectors as they are: {source}");

    /// <summary>The metadata_props entries.</summary>
    public IEnumerable<KeyValuePair<string, string>> Metadata() =>
    [
        new("input_layout", Layout),
        new("input_scale", Scale.ToString("R", CultureInfo.InvariantCulture)),
        new("preprocessing", Description),
        .. Framing is null ? [] : new KeyValuePair<string, string>[] { new(FramingStatistics.MetadataKey, Framing.ToJson()) },
    ];
}
