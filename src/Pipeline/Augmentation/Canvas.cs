using System.Globalization;
using System.Text;
using Pipeline.Imaging;

namespace Pipeline.Augmentation;

/// <summary>
/// One thread's working memory for one image at a time: the current pixels (<see cref="Channels"/> planes of
/// <see cref="Width"/> × <see cref="Height"/>, as the pipeline's arrays hold them) and a spare buffer that geometric
/// operations write into before swapping, so nothing is allocated per image or per pixel.
/// </summary>
public sealed class Canvas(int width, int height, int channels, byte background)
{
    byte[] current = new byte[channels * width * height], spare = new byte[channels * width * height];

    public int Width { get; } = width;
    public int Height { get; } = height;
    /// <summary>1 gray, 3 RGB.</summary>
    public int Channels { get; } = channels;
    /// <summary>The value that fills, in every channel, what geometry brings in from outside the image.</summary>
    public byte Background { get; } = background;

    public byte[] Pixels => current;
    public byte[] Spare => spare;

    /// <summary>Makes what an operation wrote into <see cref="Spare"/> the current image.</summary>
    public void Swap() => (current, spare) = (spare, current);

    /// <summary>Resamples the image through <paramref name="map"/> (output pixel → source position).</summary>
    public void Transform(in Affine map)
    {
        Warp.Apply(current, spare, Width, Height, Channels, map, Background);
        Swap();
    }

    /// <summary>Every pixel becomes <c>centre + (pixel − centre) · factor</c>, rounded and clamped.</summary>
    public void Blend(int centre, float factor)
    {
        for (int i = 0; i < current.Length; i++)
            current[i] = Mix(current[i], centre, factor);
    }

    /// <summary>
    /// Each colour pixel moves away from (or towards) its own gray by the factor: 0 gives the gray image, 1 the image
    /// as it is (PIL's ImageEnhance.Color; gray is <see cref="ImageLoader.Luminance"/>, PIL's <c>convert("L")</c>).
    /// </summary>
    public void BlendWithGray(float factor)
    {
        int plane = Width * Height;
        for (int i = 0; i < plane; i++)
        {
            int gray = ImageLoader.Luminance(current[i], current[plane + i], current[2 * plane + i]);
            for (int c = 0; c < 3; c++)
                current[c * plane + i] = Mix(current[c * plane + i], gray, factor);
        }
    }

    static byte Mix(int pixel, int centre, float factor) => (byte)Math.Clamp((int)MathF.Round(centre + (pixel - centre) * factor), 0, 255);

    /// <summary>Scratch for mesh distortions: per column / row, the grid cell and the position inside it.</summary>
    internal readonly int[] ColumnCell = new int[width], RowCell = new int[height];
    internal readonly float[] ColumnAt = new float[width], RowAt = new float[height];
}

/// <summary>
/// What was applied to one output, written as the JSON array of its manifest line ({"op":"rotate","angle":-12.3})
/// and as a short caption for the preview sheet. Drawn values are rounded before they are used, so the manifest
/// states exactly what was done.
/// </summary>
public sealed class Drawn
{
    readonly StringBuilder json = new(), caption = new();
    int operations;
    bool captioned;

    public void Clear()
    {
        json.Clear().Append('[');
        caption.Clear();
        (operations, captioned) = (0, false);
    }

    public Drawn Op(string name)
    {
        if (operations++ > 0) { json.Append("},"); caption.Append('+'); }
        json.Append("{\"op\":\"").Append(name).Append('"');
        caption.Append(name.Replace("random_", "").Replace("_distortion", "")); // fits under a 28-pixel tile
        return this;
    }

    public Drawn Add(string key, double value)
    {
        json.Append(",\"").Append(key).Append("\":").Append(Format(value));
        if (operations == 1 && !captioned) caption.Append(' ').Append(Format(value)); // "rotate -12.3"
        captioned = true;
        return this;
    }

    public Drawn Add(string key, string value)
    {
        json.Append(",\"").Append(key).Append("\":\"").Append(value).Append('"');
        return this;
    }

    public Drawn Add(string key, ReadOnlySpan<float> values)
    {
        json.Append(",\"").Append(key).Append("\":[");
        for (int i = 0; i < values.Length; i++)
            json.Append(i > 0 ? "," : "").Append(Format(values[i]));
        json.Append(']');
        return this;
    }

    public int Count => operations;
    public string Json => json + (operations > 0 ? "}]" : "]");
    public string Caption => operations == 0 ? "unchanged" : caption.ToString();

    static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
