using System.Globalization;
using System.Text.Json;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Imaging;

/// <summary>A statistic over the training images: its 1st percentile, median and 99th percentile.</summary>
public sealed record Spread(double Low, double Median, double High)
{
    /// <summary>Within the spread, or within <paramref name="least"/> of the median (<see cref="Distance"/> at most 1).</summary>
    public bool Holds(double value, double least) => Distance(value, least) <= 1;

    /// <summary>
    /// How far <paramref name="value"/> lies from the median, in units of the distance from the median to the 1st
    /// (below) or 99th (above) percentile, that distance at least <paramref name="least"/>: at most 1 inside the spread.
    /// </summary>
    public double Distance(double value, double least) =>
        value >= Median ? (value - Median) / Math.Max(High - Median, least) : (Median - value) / Math.Max(Median - Low, least);

    public static Spread Of(double[] values)
    {
        if (values.Length == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        double At(double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];
        return new Spread(At(0.01), At(0.5), At(0.99));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Low:0.###}–{High:0.###}");
}

/// <summary>
/// One image's framing, measured on its gray values: the background (the median of the outermost pixel ring), whether
/// the object is lighter than it (the image's mean above the background), the object's extreme value (its peak), and
/// of the object's pixels (those at least <see cref="FrameMeasures.ObjectShare"/> of the way from the background to the
/// peak): their bounding box, the centre of mass of their difference from the background, and their share of the frame
/// (ink) and of their box (fill). Coordinates are pixel centres: the first pixel's centre is 0.5.
/// </summary>
public sealed record FrameMeasure(bool LightObject, double Background, double Peak, int Top, int Left, int Bottom, int Right,
    double CentreRow, double CentreColumn, double Ink, double Fill, double CleanBorder)
{
    public double Contrast => Math.Abs(Peak - Background);
    public int LongSide => Math.Max(Bottom - Top, Right - Left);
}

/// <summary>
/// What the training images look like, learned by Verify from the training split (<c>framing.json</c>) and written into
/// every exported model's metadata (<c>framing</c>), so that Predict, or any runtime, brings an image to it: see
/// <see cref="Framing.Frame"/>. Spreads are over the training images; LongSide is the bounding box's longer side in
/// pixels, centres in pixels from the top left corner.
/// </summary>
public sealed record FramingStatistics(int Rows, int Columns, string Polarity, Spread Background, Spread Peak, Spread LongSide,
    Spread CentreRow, Spread CentreColumn, Spread Ink, Spread Fill, Spread CleanBorder)
{
    public const string FileName = "framing.json";

    public const string LightOnDark = "light_on_dark", DarkOnLight = "dark_on_light", Mixed = "mixed";

    /// <summary>The ONNX metadata key that holds these statistics as JSON.</summary>
    public const string MetadataKey = "framing";

    public string ToJson() => CanonicalJson.Serialize(this);

    public static FramingStatistics FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<FramingStatistics>(json, CanonicalJson.Options) is { Rows: > 0, Columns: > 0, Polarity: LightOnDark or DarkOnLight or Mixed } s
                && s.Background is not null && s.Peak is not null && s.LongSide is not null && s.CentreRow is not null && s.CentreColumn is not null
                && s.Ink is not null && s.Fill is not null && s.CleanBorder is not null
                ? s : throw new ImageException($"{source}: its framing statistics are incomplete");
        }
        catch (JsonException e) { throw new ImageException($"{source}: its framing statistics are not valid JSON ({e.Message})"); }
    }

    public void Save(string directory) => File.WriteAllText(Path.Combine(directory, FileName), CanonicalJson.Serialize(this));

    public static FramingStatistics Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        return File.Exists(path) ? FromJson(File.ReadAllText(path), path)
            : throw new DatasetException($"{path} not found: run the Verify stage again (it learns the framing from the training split)");
    }

    /// <summary>The most images the statistics are measured on.</summary>
    public const int MaxImages = 60_000;

    /// <summary>The statistics of a split's images (gray by <see cref="ImageLoader.Luminance"/> for colour ones).</summary>
    public static FramingStatistics Learn(ImageSplit split)
    {
        if (split.Count == 0) throw new DatasetException($"split '{split.Name}' has no images to learn the framing from");
        // Evenly spaced images, at most MaxImages: the spreads need no more, and memory stays bounded whatever the split's size.
        long step = (split.Count + MaxImages - 1) / MaxImages;
        var measures = new FrameMeasure[(split.Count + step - 1) / step];
        Parallel.For(0, measures.Length, i =>
        {
            long index = i * step;
            measures[i] = FrameMeasures.Measure(FrameMeasures.Gray(split.Image(index).ToArray(), split.Channels, split.Columns, split.Rows), split.Columns, split.Rows);
        });
        double light = measures.Count(m => m.LightObject) / (double)measures.Length;
        // Polarity is matched only when the training images agree on it.
        string polarity = light >= 0.9 ? LightOnDark : light <= 0.1 ? DarkOnLight : Mixed;
        Spread Of(Func<FrameMeasure, double> f) => Spread.Of([.. measures.Select(f)]);
        return new FramingStatistics(split.Rows, split.Columns, polarity, Of(m => m.Background), Of(m => m.Peak), Of(m => m.LongSide),
            Of(m => m.CentreRow), Of(m => m.CentreColumn), Of(m => m.Ink), Of(m => m.Fill), Of(m => m.CleanBorder));
    }
}

/// <summary>How <see cref="FrameMeasure"/>s are taken: the same for the training images and for an input.</summary>
public static class FrameMeasures
{
    /// <summary>A pixel belongs to the object from this share of the way between the background and the peak on.</summary>
    public const double ObjectShare = 0.3;

    public static byte[] Gray(byte[] planes, int channels, int width, int height)
    {
        if (channels == 1) return planes;
        int count = width * height;
        var gray = new byte[count];
        for (int i = 0; i < count; i++) gray[i] = ImageLoader.Luminance(planes[i], planes[count + i], planes[2 * count + i]);
        return gray;
    }

    public static double Median(List<byte> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    public static List<byte> Border(ReadOnlySpan<byte> plane, int width, int height)
    {
        var ring = new List<byte>(2 * (width + height));
        for (int y = 0; y < height; y++)
            if (y == 0 || y == height - 1)
                for (int x = 0; x < width; x++) ring.Add(plane[y * width + x]);
            else
            {
                ring.Add(plane[y * width]);
                if (width > 1) ring.Add(plane[y * width + width - 1]);
            }
        return ring;
    }

    public static FrameMeasure Measure(byte[] gray, int width, int height) => Measure(gray, width, height, Median(Border(gray, width, height)));

    public static FrameMeasure Measure(byte[] gray, int width, int height, double background)
    {
        double mean = 0;
        foreach (byte v in gray) mean += v;
        mean /= gray.Length;
        bool light = mean > background;
        int sign = light ? 1 : -1;
        double peak = background;
        foreach (byte v in gray) if (sign * (v - peak) > 0) peak = v;
        double cut = ObjectShare * Math.Abs(peak - background);
        int top = height, left = width, bottom = 0, right = 0, count = 0;
        double mass = 0, rowSum = 0, columnSum = 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                double d = sign * (gray[y * width + x] - background);
                if (d <= 0) continue;
                mass += d;
                rowSum += d * (y + 0.5);
                columnSum += d * (x + 0.5);
                if (d < cut || d == 0) continue;
                count++;
                (top, left, bottom, right) = (Math.Min(top, y), Math.Min(left, x), Math.Max(bottom, y + 1), Math.Max(right, x + 1));
            }
        if (count == 0) (top, left, bottom, right) = (0, 0, 0, 0);
        var border = Border(gray, width, height);
        double clean = border.Count(v => Math.Abs(v - background) < Math.Max(cut, 1)) / (double)border.Count;
        return new FrameMeasure(light, background, peak, top, left, bottom, right,
            mass > 0 ? rowSum / mass : height / 2.0, mass > 0 ? columnSum / mass : width / 2.0,
            count / (double)gray.Length, count == 0 ? 0 : count / (double)((bottom - top) * (right - left)), clean);
    }
}
