using System.Reflection;
using System.Text.Json.Serialization;

namespace Pipeline.Augmentation;

/// <summary>
/// One step of an augmentation pipeline, as written in the parameters file: <c>{"op": "rotate", "probability": 0.9,
/// "max_left_rotation": 25, …}</c>. Names and parameters follow Augmentor's. Each output draws whether the step fires
/// and its parameters from its own random stream, so a probability p fires for exactly a share p of outputs.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(Rotate), "rotate")]
[JsonDerivedType(typeof(Rotate90), "rotate90")]
[JsonDerivedType(typeof(Rotate180), "rotate180")]
[JsonDerivedType(typeof(Rotate270), "rotate270")]
[JsonDerivedType(typeof(RotateRandom90), "rotate_random_90")]
[JsonDerivedType(typeof(FlipLeftRight), "flip_left_right")]
[JsonDerivedType(typeof(FlipTopBottom), "flip_top_bottom")]
[JsonDerivedType(typeof(FlipRandom), "flip_random")]
[JsonDerivedType(typeof(Skew), "skew")]
[JsonDerivedType(typeof(SkewTilt), "skew_tilt")]
[JsonDerivedType(typeof(SkewLeftRight), "skew_left_right")]
[JsonDerivedType(typeof(SkewTopBottom), "skew_top_bottom")]
[JsonDerivedType(typeof(SkewCorner), "skew_corner")]
[JsonDerivedType(typeof(Shear), "shear")]
[JsonDerivedType(typeof(RandomDistortion), "random_distortion")]
[JsonDerivedType(typeof(GaussianDistortion), "gaussian_distortion")]
[JsonDerivedType(typeof(Zoom), "zoom")]
[JsonDerivedType(typeof(Translate), "translate")]
[JsonDerivedType(typeof(CropRandom), "crop_random")]
[JsonDerivedType(typeof(CropCentre), "crop_centre")]
[JsonDerivedType(typeof(RandomErasing), "random_erasing")]
[JsonDerivedType(typeof(RandomBrightness), "random_brightness")]
[JsonDerivedType(typeof(RandomContrast), "random_contrast")]
[JsonDerivedType(typeof(RandomColor), "random_color")]
[JsonDerivedType(typeof(Invert), "invert")]
[JsonDerivedType(typeof(RandomErode), "random_erode")]
[JsonDerivedType(typeof(RandomDilate), "random_dilate")]
public abstract record AugmentOperation
{
    static readonly Dictionary<Type, string> Names = typeof(AugmentOperation).GetCustomAttributes<JsonDerivedTypeAttribute>()
        .ToDictionary(a => a.DerivedType, a => (string)a.TypeDiscriminator!);

    /// <summary>The share of outputs this step is applied to: 0 never, 1 always.</summary>
    public required double Probability { get; init; }

    /// <summary>The name in the parameters file and the manifest ("rotate").</summary>
    internal string Name => Names[GetType()];

    /// <summary>Problems as "key must …, got …".</summary>
    public IEnumerable<string> Validate() =>
        Problems(Between("probability", Probability, 0, 1)).Concat(ValidateParameters());

    protected virtual IEnumerable<string> ValidateParameters() => [];

    /// <summary>Why the step cannot work on images of this size and channel count, or null.</summary>
    public virtual string? Unsuitable(int width, int height, int channels) => null;

    /// <summary>Draws the step's parameters from <paramref name="rng"/>, changes the canvas, records what it drew.</summary>
    public abstract void Apply(Canvas canvas, ref Rng rng, Drawn drawn);

    protected static string? Between(string key, double value, double min, double max) =>
        value >= min && value <= max ? null : $"{key} must be between {min} and {max}, got {value}";

    protected static string? NotNegative(string key, double value) => value >= 0 ? null : $"{key} must be ≥ 0, got {value}";

    protected static string? MinMax(string minKey, double min, string maxKey, double max) =>
        max >= min ? null : $"{maxKey} must be ≥ {minKey} ({min}), got {max}";

    protected static IEnumerable<string> Problems(params string?[] problems) => problems.OfType<string>();
}
