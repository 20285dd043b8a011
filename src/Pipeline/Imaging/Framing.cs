using System.Globalization;

namespace Pipeline.Imaging;

/// <summary>An image as the model gets it, and how unlike the training images it is (<see cref="Framing.Unlikeness"/>).</summary>
public sealed record FramedImage(byte[] Pixels, double Unlikeness, string Reason);

/// <summary>
/// Brings an image to the training images' framing (<see cref="FramingStatistics"/>), as MNIST's makers framed their
/// digits: the polarity matched (inverted when the object is dark on light and training objects are light on dark),
/// cropped to the object's box, scaled keeping the aspect ratio so that its longer side is the training images' median,
/// its levels mapped to the training background and peak, and placed so that its centre of mass is the training median.
/// Each step is skipped for an image already within the training images' 1st–99th percentiles (or one pixel, 8 gray
/// levels of their median) for what that step changes, so a training-like image reaches the model as its bytes.
/// </summary>
public static class Framing
{
    /// <summary>Below this difference between peak and background (of 255) an image holds no object.</summary>
    public const double MinContrast = 24;

    // Closer than these to the training median is never far from it, however tight the spread: shares (ink, fill,
    // clean border), pixels (box side; centre of mass, which a shift of whole pixels can only bring within half a
    // pixel of any point) and gray levels.
    const double LeastShare = 0.05, LeastSide = 1, LeastCentre = 1, LeastLevel = 8;

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
            (stats.Ink.Distance(seen.Ink, LeastShare), $"the object covers {Percent(seen.Ink)} of the frame (training {Percent(stats.Ink)})"),
            (stats.Fill.Distance(seen.Fill, LeastShare), $"the object fills {Percent(seen.Fill)} of its box (training {Percent(stats.Fill)})"),
            (stats.CleanBorder.Distance(input.CleanBorder, LeastShare), $"{Percent(input.CleanBorder)} of the edge is background (training {Percent(stats.CleanBorder)})"),
        ];
        return scores.MaxBy(s => s.Item1);
    }

    static string Percent(double share) => string.Create(CultureInfo.InvariantCulture, $"{share * 100:0}%");

    static string Percent(Spread s) => string.Create(CultureInfo.InvariantCulture, $"{s.Low * 100:0}–{s.High * 100:0}%");

    /// <summary>Planes of any size as the model takes them with <c>predict.framing=none</c>: resized whole (<see cref="ImageLoader.Fit"/>).</summary>
    public static FramedImage Unframed(byte[] planes, int channels, int width, int height, int rows, int columns, FramingStatistics? stats)
    {
        var fitted = ImageLoader.Fit(planes, channels, width, height, rows, columns);
        if (stats is null) return new FramedImage(fitted, double.NaN, "");
        var seen = FrameMeasures.Measure(FrameMeasures.Gray(fitted, channels, columns, rows), columns, rows);
        var (score, reason) = Unlikeness(stats, seen, seen);
        return new FramedImage(fitted, score, reason);
    }

    /// <summary>Planes (<paramref name="channels"/> of <paramref name="width"/> × <paramref name="height"/>) framed as the training images are.</summary>
    public static FramedImage Frame(byte[] planes, int channels, int width, int height, FramingStatistics stats)
    {
        int rows = stats.Rows, columns = stats.Columns;
        var input = FrameMeasures.Measure(FrameMeasures.Gray(planes, channels, width, height), width, height);
        if (input.Contrast < MinContrast)
        {
            // Nothing to frame: resized whole, and marked.
            var (none, why) = Unlikeness(stats, input, input);
            return new FramedImage(ImageLoader.Fit(planes, channels, width, height, rows, columns), none, why);
        }
        if (stats.Polarity != FramingStatistics.Mixed && input.LightObject != (stats.Polarity == FramingStatistics.LightOnDark))
        {
            planes = [.. planes.Select(v => (byte)(255 - v))];
            input = FrameMeasures.Measure(FrameMeasures.Gray(planes, channels, width, height), width, height);
        }

        // The object, cropped with a margin for its faint edge, and scaled: unless it is already the training size.
        bool keepScale = width == columns && height == rows && stats.LongSide.Holds(input.LongSide, LeastSide);
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
            .Select(c => FrameMeasures.Median(FrameMeasures.Border(planes.AsSpan(c * width * height, width * height), width, height))).ToArray();
        var scaled = FrameMeasures.Measure(FrameMeasures.Gray(region, channels, regionWidth, regionHeight), regionWidth, regionHeight, input.Background);
        var fill = backgrounds;
        if (!(stats.Background.Holds(input.Background, LeastLevel) && stats.Peak.Holds(scaled.Peak, LeastLevel)) && scaled.Contrast > 0)
        {
            double gain = Math.Min(8, (stats.Peak.Median - stats.Background.Median) / (scaled.Peak - input.Background));
            region = [.. region.Select((v, i) => (byte)Math.Clamp(Math.Round(stats.Background.Median + (v - backgrounds[i / (regionWidth * regionHeight)]) * gain), 0, 255))];
            fill = [.. backgrounds.Select(_ => stats.Background.Median)];
            scaled = FrameMeasures.Measure(FrameMeasures.Gray(region, channels, regionWidth, regionHeight), regionWidth, regionHeight, stats.Background.Median);
        }

        // Placed by centre of mass: where it is, if the image is training-sized and its centre within the spread.
        bool keepPlace = keepScale && stats.CentreRow.Holds(input.CentreRow, LeastCentre) && stats.CentreColumn.Holds(input.CentreColumn, LeastCentre);
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
        var seen = FrameMeasures.Measure(FrameMeasures.Gray(framed, channels, columns, rows), columns, rows);
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
