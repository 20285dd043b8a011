using System.Globalization;
using System.Text.Json;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Imaging;

/// <summary>A statistic over the training images: its 1st percentile, median and 99th percentile.</summary>
public sealed record Spread(double Low, double Median, double High)
{
    public bool Holds(double value) => value >= Low && value <= High;

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
/// of the object's pixels (those at least <see cref="Framing.ObjectShare"/> of the way from the background to the
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

    /// <summary>The statistics of a split's images (gray by <see cref="ImageLoader.Luminance"/> for colour ones).</summary>
    public static FramingStatistics Learn(ImageSplit split)
    {
        if (split.Count == 0) throw new DatasetException($"split '{split.Name}' has no images to learn the framing from");
        var measures = new FrameMeasure[split.Count];
        Parallel.For(0, split.Count, i =>
            measures[i] = Framing.Measure(Framing.Gray(split.Image(i).ToArray(), split.Channels, split.Columns, split.Rows), split.Columns, split.Rows));
        double light = measures.Count(m => m.LightObject) / (double)measures.Length;
        // Polarity is matched only when the training images agree on it.
        string polarity = light >= 0.9 ? LightOnDark : light <= 0.1 ? DarkOnLight : Mixed;
        Spread Of(Func<FrameMeasure, double> f) => Spread.Of([.. measures.Select(f)]);
        return new FramingStatistics(split.Rows, split.Columns, polarity, Of(m => m.Background), Of(m => m.Peak), Of(m => m.LongSide),
            Of(m => m.CentreRow), Of(m => m.CentreColumn), Of(m => m.Ink), Of(m => m.Fill), Of(m => m.CleanBorder));
    }
}

/// <summary>An image as the model gets it, and how unlike the training images it is (<see cref="Framing.Unlikeness"/>).</summary>
public sealed record FramedImage(byte[] Pixels, double Unlikeness, string Reason);

/// <summary>
/// Brings an image to the training images' framing (<see cref="FramingStatistics"/>), as MNIST's makers framed their
/// digits: the polarity matched (inverted when the object is dark on light and training objects are light on dark),
/// cropped to the object's box, scaled keeping the aspect ratio so that its longer side is the training images' median,
/// its levels mapped to the training background and peak, and placed so that its centre of mass is the training median.
/// Each step is skipped for an image already within the training images' 1st–99th percentiles for what that step
/// changes, so a training-like image reaches the model as its bytes.
/// </summary>
public static class Framing
{
    /// <summary>A pixel belongs to the object from this share of the way between the background and the peak on.</summary>
    public const double ObjectShare = 0.3;

    /// <summary>Below this difference between peak and background (of 255) an image holds no object.</summary>
    public const double MinContrast = 24;

    // Shares (ink, fill, clean border) closer than this to the median are never far from it, however tight the spread.
    const double LeastShare = 0.05;

    public static byte[] Gray(byte[] planes, int channels, int width, int height)
    {
        if (channels == 1) return planes;
        int count = width * height;
        var gray = new byte[count];
        for (int i = 0; i < count; i++) gray[i] = ImageLoader.Luminance(planes[i], planes[count + i], planes[2 * count + i]);
        return gray;
    }

    static double Median(List<byte> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    static List<byte> Border(ReadOnlySpan<byte> plane, int width, int height)
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

    static FrameMeasure Measure(byte[] gray, int width, int height, double background)
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

    /// <summary>
    /// How unlike the training images an image is: the largest <see cref="Spread.Distance"/> of the share of the frame
    /// the object covers (ink) and of its box (fill) in the pixels the model gets, and of the input's outer ring that is
    /// background (clean border; a photo's is not); 1 is the edge of the training images' 1st–99th percentiles.
    /// Infinite when the image holds no object or its polarity is not the training images'.
    /// </summary>
    public static (double Score, string Reason) Unlikeness(FramingStatistics stats, FrameMeasure input, FrameMeasure seen)
    {
        if (input.Contrast < MinContrast)
            return (double.PositiveInfinity, string.Create(CultureInfo.InvariantCulture, $"no object: nearly uniform (contrast {input.Contrast:0} of 255)"));
        if (stats.Polarity != FramingStatistics.Mixed && seen.LightObject != (stats.Polarity == FramingStatistics.LightOnDark))
            return (double.PositiveInfinity, $"{(seen.LightObject ? "light on dark" : "dark on light")}; the training images are {stats.Polarity.Replace('_', ' ')}");
        (double, string)[] scores =
        [
            (stats.Ink.Distance(seen.Ink, LeastShare), $"the object covers {seen.Ink:P0} of the frame (training {Percent(stats.Ink)})"),
            (stats.Fill.Distance(seen.Fill, LeastShare), $"the object fills {seen.Fill:P0} of its box (training {Percent(stats.Fill)})"),
            (stats.CleanBorder.Distance(input.CleanBorder, LeastShare), $"{input.CleanBorder:P0} of the edge is background (training {Percent(stats.CleanBorder)})"),
        ];
        return scores.MaxBy(s => s.Item1);
    }

    static string Percent(Spread s) => string.Create(CultureInfo.InvariantCulture, $"{s.Low * 100:0}–{s.High * 100:0}%");

    /// <summary>Planes of any size as the model takes them with <c>predict.framing=none</c>: resized whole (<see cref="ImageLoader.Fit"/>).</summary>
    public static FramedImage Unframed(byte[] planes, int channels, int width, int height, int rows, int columns, FramingStatistics? stats)
    {
        var fitted = ImageLoader.Fit(planes, channels, width, height, rows, columns);
        if (stats is null) return new FramedImage(fitted, double.NaN, "");
        var seen = Measure(Gray(fitted, channels, columns, rows), columns, rows);
        var (score, reason) = Unlikeness(stats, seen, seen);
        return new FramedImage(fitted, score, reason);
    }

    /// <summary>Planes (<paramref name="channels"/> of <paramref name="width"/> × <paramref name="height"/>) framed as the training images are.</summary>
    public static FramedImage Frame(byte[] planes, int channels, int width, int height, FramingStatistics stats)
    {
        int rows = stats.Rows, columns = stats.Columns;
        var input = Measure(Gray(planes, channels, width, height), width, height);
        if (input.Contrast < MinContrast)
        {
            // Nothing to frame: resized whole, and marked.
            var (none, why) = Unlikeness(stats, input, input);
            return new FramedImage(ImageLoader.Fit(planes, channels, width, height, rows, columns), none, why);
        }
        if (stats.Polarity != FramingStatistics.Mixed && input.LightObject != (stats.Polarity == FramingStatistics.LightOnDark))
        {
            planes = [.. planes.Select(v => (byte)(255 - v))];
            input = Measure(Gray(planes, channels, width, height), width, height);
        }

        // The object, cropped with a margin for its faint edge, and scaled: unless it is already the training size.
        bool keepScale = width == columns && height == rows && stats.LongSide.Holds(input.LongSide);
        byte[] region = planes;
        int regionWidth = width, regionHeight = height;
        if (!keepScale)
        {
            double scale = stats.LongSide.Median / input.LongSide;
            int margin = (int)Math.Ceiling(2 / scale);
            int top = Math.Max(0, input.Top - margin), left = Math.Max(0, input.Left - margin);
            int bottom = Math.Min(height, input.Bottom + margin), right = Math.Min(width, input.Right + margin);
            var crop = Crop(planes, channels, width, height, left, top, right - left, bottom - top);
            regionWidth = Math.Max(1, (int)Math.Round((right - left) * scale));
            regionHeight = Math.Max(1, (int)Math.Round((bottom - top) * scale));
            region = ImageLoader.Resize(crop, channels, right - left, bottom - top, regionWidth, regionHeight);
        }

        // Levels: the input's background per channel, and the peak the scaled object keeps, to the training median.
        var backgrounds = Enumerable.Range(0, channels)
            .Select(c => Median(Border(planes.AsSpan(c * width * height, width * height), width, height))).ToArray();
        var scaled = Measure(Gray(region, channels, regionWidth, regionHeight), regionWidth, regionHeight, input.Background);
        var fill = backgrounds;
        if (!(stats.Background.Holds(input.Background) && stats.Peak.Holds(scaled.Peak)) && scaled.Contrast > 0)
        {
            double gain = Math.Min(8, (stats.Peak.Median - stats.Background.Median) / (scaled.Peak - input.Background));
            region = [.. region.Select((v, i) => (byte)Math.Clamp(Math.Round(stats.Background.Median + (v - backgrounds[i / (regionWidth * regionHeight)]) * gain), 0, 255))];
            fill = [.. backgrounds.Select(_ => stats.Background.Median)];
            scaled = Measure(Gray(region, channels, regionWidth, regionHeight), regionWidth, regionHeight, stats.Background.Median);
        }

        // Placed by centre of mass: where it is, if the image is training-sized and its centre within the spread.
        bool keepPlace = keepScale && stats.CentreRow.Holds(input.CentreRow) && stats.CentreColumn.Holds(input.CentreColumn);
        int down = keepPlace ? 0 : (int)Math.Round(stats.CentreRow.Median - scaled.CentreRow);
        int across = keepPlace ? 0 : (int)Math.Round(stats.CentreColumn.Median - scaled.CentreColumn);
        var framed = new byte[channels * rows * columns];
        for (int c = 0; c < channels; c++)
        {
            framed.AsSpan(c * rows * columns, rows * columns).Fill((byte)Math.Round(fill[c]));
            for (int y = Math.Max(0, down); y < Math.Min(rows, regionHeight + down); y++)
                for (int x = Math.Max(0, across); x < Math.Min(columns, regionWidth + across); x++)
                    framed[(c * rows + y) * columns + x] = region[(c * regionHeight + y - down) * regionWidth + x - across];
        }
        var seen = Measure(Gray(framed, channels, columns, rows), columns, rows);
        var (score, reason) = Unlikeness(stats, input, seen);
        return new FramedImage(framed, score, reason);
    }

    static byte[] Crop(byte[] planes, int channels, int width, int height, int left, int top, int cropWidth, int cropHeight)
    {
        var crop = new byte[channels * cropWidth * cropHeight];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < cropHeight; y++)
                planes.AsSpan((c * height + top + y) * width + left, cropWidth).CopyTo(crop.AsSpan((c * cropHeight + y) * cropWidth, cropWidth));
        return crop;
    }
}
