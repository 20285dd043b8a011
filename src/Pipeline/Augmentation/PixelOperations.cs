using Pipeline.Imaging;

namespace Pipeline.Augmentation;

/// <summary>
/// Augmentor's random erasing: a rectangle with sides between 0.1 and rectangle_area × the image's sides, at a random
/// place, filled with uniform noise (in every channel: colour noise on colour images).
/// </summary>
public sealed record RandomErasing : AugmentOperation
{
    public double RectangleArea { get; init; } = 0.3;

    protected override IEnumerable<string> ValidateParameters() => Problems(Between("rectangle_area", RectangleArea, 0.1, 1));

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int w = canvas.Width, h = canvas.Height;
        int minWidth = Math.Max(1, (int)(w * 0.1)), minHeight = Math.Max(1, (int)(h * 0.1));
        int width = rng.Between(minWidth, Math.Max(minWidth, (int)(w * RectangleArea)));
        int height = rng.Between(minHeight, Math.Max(minHeight, (int)(h * RectangleArea)));
        int x = rng.Between(0, w - width), y = rng.Between(0, h - height);
        drawn.Op(Name).Add("x", x).Add("y", y).Add("width", width).Add("height", height);
        var pixels = canvas.Pixels;
        for (int c = 0, plane = 0; c < canvas.Channels; c++, plane += w * h)
            for (int row = y; row < y + height; row++)
                for (int column = x; column < x + width; column++)
                    pixels[plane + row * w + column] = (byte)rng.Below(256);
    }
}

/// <summary>PIL's ImageEnhance: blends every pixel with a degenerate image by a factor from [min_factor, max_factor].</summary>
public abstract record EnhanceOperation : AugmentOperation
{
    public double MinFactor { get; init; } = 0.7;
    public double MaxFactor { get; init; } = 1.3;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        NotNegative("min_factor", MinFactor), NotNegative("max_factor", MaxFactor), MinMax("min_factor", MinFactor, "max_factor", MaxFactor));

    /// <summary>Blends the canvas with what a factor of 0 gives.</summary>
    protected abstract void Enhance(Canvas canvas, float factor);

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        double factor = Math.Round(rng.Uniform(MinFactor, MaxFactor), 3);
        drawn.Op(Name).Add("factor", factor);
        Enhance(canvas, (float)factor);
    }
}

/// <summary>Multiplies every pixel by the factor (ImageEnhance.Brightness).</summary>
public sealed record RandomBrightness : EnhanceOperation
{
    protected override void Enhance(Canvas canvas, float factor) => canvas.Blend(0, factor);
}

/// <summary>
/// Moves every pixel away from (or towards) the image's mean gray by the factor (ImageEnhance.Contrast: the mean of
/// the gray image, so every channel of a colour image moves about the same value).
/// </summary>
public sealed record RandomContrast : EnhanceOperation
{
    protected override void Enhance(Canvas canvas, float factor) => canvas.Blend(MeanGray(canvas), factor);

    static int MeanGray(Canvas canvas)
    {
        var pixels = canvas.Pixels;
        int plane = canvas.Width * canvas.Height;
        long sum = 0;
        if (canvas.Channels == 1)
            foreach (var p in pixels) sum += p;
        else
            for (int i = 0; i < plane; i++) sum += ImageLoader.Luminance(pixels[i], pixels[plane + i], pixels[2 * plane + i]);
        return (int)(sum / (double)plane + 0.5);
    }
}

/// <summary>
/// Augmentor's random_color: the saturation changed by the factor (ImageEnhance.Color): 0 gives the gray image, 1 the
/// image as it is, above 1 stronger colours. Colour images only.
/// </summary>
public sealed record RandomColor : EnhanceOperation
{
    public override string? Unsuitable(int width, int height, int channels) =>
        channels == 3 ? null : $"changes colour, and these images are gray ({channels} channel); use it on RGB data (3 channels)";

    protected override void Enhance(Canvas canvas, float factor) => canvas.BlendWithGray(factor);
}

/// <summary>255 − every pixel.</summary>
public sealed record Invert : AugmentOperation
{
    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        drawn.Op(Name);
        var pixels = canvas.Pixels;
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(255 - pixels[i]);
    }
}

/// <summary>
/// Grey-level morphology: every pixel becomes the maximum (dilate) or minimum (erode) of the square of side
/// 2 × size + 1 around it, size drawn from [1, max_size], in every channel. Maximum widens light strokes on a dark
/// background (MNIST's) and narrows dark ones: stroke width varies with the pen, and MNIST's is narrow in its spread.
/// </summary>
public abstract record MorphologyOperation : AugmentOperation
{
    public int MaxSize { get; init; } = 1;

    protected override IEnumerable<string> ValidateParameters() => Problems(Between("max_size", MaxSize, 1, 3));

    protected abstract bool Maximum { get; }

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int size = rng.Between(1, MaxSize);
        drawn.Op(Name).Add("size", size);
        int w = canvas.Width, h = canvas.Height;
        var (source, target) = (canvas.Pixels, canvas.Spare);
        for (int c = 0, plane = 0; c < canvas.Channels; c++, plane += w * h)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    byte best = source[plane + y * w + x];
                    for (int dy = Math.Max(0, y - size); dy <= Math.Min(h - 1, y + size); dy++)
                        for (int dx = Math.Max(0, x - size); dx <= Math.Min(w - 1, x + size); dx++)
                        {
                            byte v = source[plane + dy * w + dx];
                            if (Maximum ? v > best : v < best) best = v;
                        }
                    target[plane + y * w + x] = best;
                }
        canvas.Swap();
    }
}

/// <summary>The maximum of each pixel's neighbourhood (<see cref="MorphologyOperation"/>): light strokes widen.</summary>
public sealed record RandomDilate : MorphologyOperation { protected override bool Maximum => true; }

/// <summary>The minimum of each pixel's neighbourhood (<see cref="MorphologyOperation"/>): light strokes narrow.</summary>
public sealed record RandomErode : MorphologyOperation { protected override bool Maximum => false; }
