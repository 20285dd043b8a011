namespace Pipeline.Augmentation;

/// <summary>
/// Augmentor's random erasing: a rectangle with sides between 0.1 and rectangle_area × the image's sides, at a random
/// place, filled with uniform noise.
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
        for (int row = y; row < y + height; row++)
            for (int column = x; column < x + width; column++)
                pixels[row * w + column] = (byte)rng.Below(256);
    }
}

/// <summary>PIL's ImageEnhance: blends every pixel with a centre value by a factor from [min_factor, max_factor].</summary>
public abstract record EnhanceOperation : AugmentOperation
{
    public double MinFactor { get; init; } = 0.7;
    public double MaxFactor { get; init; } = 1.3;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        NotNegative("min_factor", MinFactor), NotNegative("max_factor", MaxFactor), MinMax("min_factor", MinFactor, "max_factor", MaxFactor));

    /// <summary>The value a factor of 0 turns every pixel into.</summary>
    protected abstract int Centre(Canvas canvas);

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        double factor = Math.Round(rng.Uniform(MinFactor, MaxFactor), 3);
        drawn.Op(Name).Add("factor", factor);
        canvas.Blend(Centre(canvas), (float)factor);
    }
}

/// <summary>Multiplies every pixel by the factor (ImageEnhance.Brightness).</summary>
public sealed record RandomBrightness : EnhanceOperation
{
    protected override int Centre(Canvas canvas) => 0;
}

/// <summary>Moves every pixel away from (or towards) the image's mean by the factor (ImageEnhance.Contrast).</summary>
public sealed record RandomContrast : EnhanceOperation
{
    protected override int Centre(Canvas canvas)
    {
        long sum = 0;
        foreach (var p in canvas.Pixels) sum += p;
        return (int)(sum / (double)canvas.Pixels.Length + 0.5);
    }
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
