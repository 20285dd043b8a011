namespace Pipeline.Augmentation;

// Geometry: each draws its parameters, then resamples once (bilinear, background outside) or moves pixels exactly,
// the same way in every channel.
// Drawn values are rounded before use so the manifest states exactly what was done.

/// <summary>Rotates by an angle drawn uniformly from [−max_right_rotation, +max_left_rotation] degrees (+ = left,
/// counter-clockwise). Unlike Augmentor it keeps the whole digit instead of cropping the largest inner rectangle.</summary>
public sealed record Rotate : AugmentOperation
{
    public double MaxLeftRotation { get; init; } = 25;
    public double MaxRightRotation { get; init; } = 25;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        Between("max_left_rotation", MaxLeftRotation, 0, 180), Between("max_right_rotation", MaxRightRotation, 0, 180));

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        double angle = Math.Round(rng.Uniform(-MaxRightRotation, MaxLeftRotation), 2);
        drawn.Op(Name).Add("angle", angle);
        canvas.Transform(Affine.Rotation(canvas.Width, canvas.Height, angle));
    }
}

/// <summary>Quarter turns counter-clockwise, exact (pixels move, nothing is resampled).</summary>
public abstract record QuarterTurn : AugmentOperation
{
    protected abstract int Turns(ref Rng rng);

    protected virtual bool NeedsSquare => true;

    public override string? Unsuitable(int width, int height, int channels) =>
        width == height || !NeedsSquare ? null : $"needs square images, these are {width}×{height}";

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int turns = Turns(ref rng);
        drawn.Op(Name).Add("degrees", turns * 90);
        if (turns == 1) Warp.Rotate90(canvas.Pixels, canvas.Spare, canvas.Width, canvas.Channels);
        else if (turns == 2) Warp.Rotate180(canvas.Pixels, canvas.Spare, canvas.Channels);
        else Warp.Rotate270(canvas.Pixels, canvas.Spare, canvas.Width, canvas.Channels);
        canvas.Swap();
    }
}

public sealed record Rotate90 : QuarterTurn { protected override int Turns(ref Rng rng) => 1; }
public sealed record Rotate180 : QuarterTurn
{
    protected override int Turns(ref Rng rng) => 2;
    protected override bool NeedsSquare => false;
}
public sealed record Rotate270 : QuarterTurn { protected override int Turns(ref Rng rng) => 3; }
/// <summary>90, 180 or 270 degrees, equally likely.</summary>
public sealed record RotateRandom90 : QuarterTurn { protected override int Turns(ref Rng rng) => rng.Between(1, 3); }

/// <summary>Mirror images, exact.</summary>
public abstract record Flip : AugmentOperation
{
    protected abstract bool LeftRight(ref Rng rng);

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        bool leftRight = LeftRight(ref rng);
        drawn.Op(Name).Add("axis", leftRight ? "left_right" : "top_bottom");
        if (leftRight) Warp.FlipLeftRight(canvas.Pixels, canvas.Spare, canvas.Width, canvas.Height, canvas.Channels);
        else Warp.FlipTopBottom(canvas.Pixels, canvas.Spare, canvas.Width, canvas.Height, canvas.Channels);
        canvas.Swap();
    }
}

public sealed record FlipLeftRight : Flip { protected override bool LeftRight(ref Rng rng) => true; }
public sealed record FlipTopBottom : Flip { protected override bool LeftRight(ref Rng rng) => false; }
/// <summary>Left-right or top-bottom, equally likely.</summary>
public sealed record FlipRandom : Flip { protected override bool LeftRight(ref Rng rng) => rng.Below(2) == 0; }

/// <summary>
/// Augmentor's perspective skews: one side (tilt) or one corner of the image plane moves outwards by up to
/// magnitude × the image's larger side, and the image is stretched to follow.
/// </summary>
public abstract record SkewOperation : AugmentOperation
{
    static readonly string[] Tilts = ["left", "right", "forward", "backward"];
    static readonly string[] Corners = ["top_left_x", "top_left_y", "top_right_x", "top_right_y",
        "bottom_right_x", "bottom_right_y", "bottom_left_x", "bottom_left_y"];

    /// <summary>0–1: the largest move as a share of the image's larger side.</summary>
    public double Magnitude { get; init; } = 1;

    protected override IEnumerable<string> ValidateParameters() => Problems(Between("magnitude", Magnitude, 0, 1));

    /// <summary>The kind drawn: 0 tilt (any side), 1 tilt left/right, 2 tilt forward/backward, 3 corner.</summary>
    protected abstract int Kind(ref Rng rng);

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int w = canvas.Width, h = canvas.Height, kind = Kind(ref rng);
        int direction = kind switch { 0 => rng.Below(4), 1 => rng.Below(2), 2 => 2 + rng.Below(2), _ => rng.Below(8) };
        double amount = Math.Round(rng.Uniform(0, Math.Max(w, h) * Magnitude), 2);
        drawn.Op(Name).Add(kind == 3 ? "corner" : "tilt", kind == 3 ? Corners[direction] : Tilts[direction]).Add("amount", amount);

        Span<double> plane = [0, 0, w, 0, w, h, 0, h]; // corners TL, TR, BR, BL as x, y
        Span<double> moved = stackalloc double[8];
        plane.CopyTo(moved);
        if (kind == 3)
            moved[direction] += direction is 0 or 1 or 3 or 6 ? -amount : amount; // outwards
        else if (direction == 0) { moved[1] -= amount; moved[7] += amount; }       // left side taller
        else if (direction == 1) { moved[3] -= amount; moved[5] += amount; }       // right side taller
        else if (direction == 2) { moved[0] -= amount; moved[2] += amount; }       // top side wider
        else { moved[4] += amount; moved[6] -= amount; }                           // bottom side wider
        Span<double> map = stackalloc double[9];
        Warp.SolveHomography(moved, plane, map); // output corner → where it comes from
        Warp.Perspective(canvas.Pixels, canvas.Spare, w, h, canvas.Channels, map, canvas.Background);
        canvas.Swap();
    }
}

/// <summary>Any of the skews below, equally likely (Augmentor's skew).</summary>
public sealed record Skew : SkewOperation { protected override int Kind(ref Rng rng) => rng.Below(4); }
public sealed record SkewTilt : SkewOperation { protected override int Kind(ref Rng rng) => 0; }
public sealed record SkewLeftRight : SkewOperation { protected override int Kind(ref Rng rng) => 1; }
public sealed record SkewTopBottom : SkewOperation { protected override int Kind(ref Rng rng) => 2; }
public sealed record SkewCorner : SkewOperation { protected override int Kind(ref Rng rng) => 3; }

/// <summary>Shears along x or y (equally likely) by an angle from [−max_shear_left, +max_shear_right] degrees, about
/// the centre; the border is filled instead of Augmentor's crop.</summary>
public sealed record Shear : AugmentOperation
{
    public double MaxShearLeft { get; init; } = 10;
    public double MaxShearRight { get; init; } = 10;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        Between("max_shear_left", MaxShearLeft, 0, 45), Between("max_shear_right", MaxShearRight, 0, 45));

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        bool alongX = rng.Below(2) == 0;
        double angle = Math.Round(rng.Uniform(-MaxShearLeft, MaxShearRight), 2), t = Math.Tan(angle * Math.PI / 180);
        drawn.Op(Name).Add("angle", angle).Add("axis", alongX ? "x" : "y");
        canvas.Transform(alongX ? Affine.AboutCentre(canvas.Width, canvas.Height, 1, t, 0, 1)
            : Affine.AboutCentre(canvas.Width, canvas.Height, 1, 0, t, 1));
    }
}

/// <summary>
/// Augmentor's random (elastic grid) distortion: grid_width × grid_height cells whose inner corners move by up to
/// magnitude pixels in x and y; the manifest lists each inner corner's move (dx, dy, row by row).
/// </summary>
public record RandomDistortion : AugmentOperation
{
    public int GridWidth { get; init; } = 4;
    public int GridHeight { get; init; } = 4;
    public double Magnitude { get; init; } = 2;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        Between("grid_width", GridWidth, 1, 64), Between("grid_height", GridHeight, 1, 64), Between("magnitude", Magnitude, 0, 100));

    public override string? Unsuitable(int width, int height, int channels) =>
        GridWidth > width || GridHeight > height ? $"a {GridWidth}×{GridHeight} grid does not fit {width}×{height} images" : null;

    /// <summary>How much of the drawn move a corner at (x, y) (0–1 across the image) keeps.</summary>
    protected virtual double Weight(double x, double y) => 1;

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int stride = GridWidth + 1, vertices = stride * (GridHeight + 1), inner = (GridWidth - 1) * (GridHeight - 1);
        Span<float> dx = stackalloc float[vertices], dy = stackalloc float[vertices];
        Span<float> listX = stackalloc float[inner], listY = stackalloc float[inner];
        dx.Clear();
        dy.Clear();
        for (int gy = 1, n = 0; gy < GridHeight; gy++)
            for (int gx = 1; gx < GridWidth; gx++, n++)
            {
                double weight = Weight((double)gx / GridWidth, (double)gy / GridHeight);
                listX[n] = dx[gy * stride + gx] = (float)Math.Round(weight * rng.Uniform(-Magnitude, Magnitude), 2);
                listY[n] = dy[gy * stride + gx] = (float)Math.Round(weight * rng.Uniform(-Magnitude, Magnitude), 2);
            }
        drawn.Op(Name).Add("dx", listX).Add("dy", listY);
        Warp.Mesh(canvas, GridWidth, GridHeight, dx, dy);
    }
}

/// <summary>
/// Augmentor's gaussian distortion: the grid distortion with each corner's move scaled by a Gaussian surface
/// exp(−((x−mex)²/sdx + (y−mey)²/sdy)) over the image (0–1 both ways): method "in" distorts most near (mex, mey),
/// "out" most away from it.
/// </summary>
public sealed record GaussianDistortion : RandomDistortion
{
    public string Method { get; init; } = "in";
    public double Mex { get; init; } = 0.5;
    public double Mey { get; init; } = 0.5;
    public double Sdx { get; init; } = 0.05;
    public double Sdy { get; init; } = 0.05;

    protected override IEnumerable<string> ValidateParameters() => base.ValidateParameters().Concat(Problems(
        Method is "in" or "out" ? null : $"method must be \"in\" or \"out\", got \"{Method}\"",
        Between("mex", Mex, 0, 1), Between("mey", Mey, 0, 1),
        Sdx > 0 ? null : $"sdx must be > 0, got {Sdx}", Sdy > 0 ? null : $"sdy must be > 0, got {Sdy}"));

    protected override double Weight(double x, double y)
    {
        double g = Math.Exp(-((x - Mex) * (x - Mex) / Sdx + (y - Mey) * (y - Mey) / Sdy));
        return Method == "in" ? g : 1 - g;
    }
}

/// <summary>Scales about the centre by a factor drawn from [min_factor, max_factor]; above 1 enlarges (the edges
/// leave the frame, as Augmentor's zoom), below 1 shrinks (the border is filled).</summary>
public sealed record Zoom : AugmentOperation
{
    public double MinFactor { get; init; } = 1.05;
    public double MaxFactor { get; init; } = 1.2;

    protected override IEnumerable<string> ValidateParameters() => Problems(
        Between("min_factor", MinFactor, 0.1, 10), Between("max_factor", MaxFactor, 0.1, 10),
        MinMax("min_factor", MinFactor, "max_factor", MaxFactor));

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        double factor = Math.Round(rng.Uniform(MinFactor, MaxFactor), 3);
        drawn.Op(Name).Add("factor", factor);
        canvas.Transform(Affine.AboutCentre(canvas.Width, canvas.Height, 1 / factor, 0, 0, 1 / factor));
    }
}

/// <summary>Moves the image by whole pixels drawn from [−max_x, +max_x] (+ = right) and [−max_y, +max_y] (+ = down), as
/// torchvision's RandomAffine translate; exact (nothing is resampled), the background fills what comes in.</summary>
public sealed record Translate : AugmentOperation
{
    public int MaxX { get; init; } = 2;
    public int MaxY { get; init; } = 2;

    protected override IEnumerable<string> ValidateParameters() => Problems(Between("max_x", MaxX, 0, 1000), Between("max_y", MaxY, 0, 1000));

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int x = rng.Between(-MaxX, MaxX), y = rng.Between(-MaxY, MaxY);
        drawn.Op(Name).Add("x", x).Add("y", y);
        canvas.Transform(Affine.FromRectangle(canvas.Width, canvas.Height, -x, -y, canvas.Width, canvas.Height));
    }
}

/// <summary>
/// Augmentor's crops, then scaled back to the image's size: each side of the crop is percentage_area × the image's
/// side (Augmentor's meaning of the name); with randomise_percentage_area it is drawn from [0.1, percentage_area].
/// </summary>
public abstract record Crop : AugmentOperation
{
    public double PercentageArea { get; init; } = 0.8;
    public bool RandomisePercentageArea { get; init; }

    protected override IEnumerable<string> ValidateParameters() => Problems(Between("percentage_area", PercentageArea, 0.1, 1));

    protected abstract (double X, double Y) Place(int width, int height, int cropWidth, int cropHeight, ref Rng rng);

    public override void Apply(Canvas canvas, ref Rng rng, Drawn drawn)
    {
        int w = canvas.Width, h = canvas.Height;
        double share = RandomisePercentageArea ? Math.Round(rng.Uniform(0.1, PercentageArea), 2) : PercentageArea;
        int cropWidth = Math.Max(1, (int)Math.Floor(w * share)), cropHeight = Math.Max(1, (int)Math.Floor(h * share));
        var (x, y) = Place(w, h, cropWidth, cropHeight, ref rng);
        drawn.Op(Name).Add("x", x).Add("y", y).Add("width", cropWidth).Add("height", cropHeight);
        canvas.Transform(Affine.FromRectangle(w, h, x, y, cropWidth, cropHeight));
    }
}

/// <summary>A crop at a random whole-pixel position.</summary>
public sealed record CropRandom : Crop
{
    protected override (double X, double Y) Place(int width, int height, int cropWidth, int cropHeight, ref Rng rng) =>
        (rng.Between(0, width - cropWidth), rng.Between(0, height - cropHeight));
}

/// <summary>The crop in the middle.</summary>
public sealed record CropCentre : Crop
{
    protected override (double X, double Y) Place(int width, int height, int cropWidth, int cropHeight, ref Rng rng) =>
        ((width - cropWidth) / 2.0, (height - cropHeight) / 2.0);
}
