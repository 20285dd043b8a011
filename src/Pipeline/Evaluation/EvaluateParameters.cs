using Pipeline.Parameters;

namespace Pipeline.Evaluation;

/// <summary>The <c>evaluate</c> section.</summary>
[ParameterSection("evaluate")]
public sealed record EvaluateParameters : IValidatedParameters
{
    /// <summary>The build fails when test accuracy (categorical) is below this; 0 = no gate. Not part of the
    /// stage's fingerprint: changing it re-checks the recorded accuracy without evaluating again.</summary>
    public double MinAccuracy { get; init; }
    /// <summary>How many misclassified test images the gallery shows.</summary>
    public int GalleryImages { get; init; } = 100;

    public IEnumerable<string> Validate()
    {
        if (!(MinAccuracy >= 0 && MinAccuracy <= 1)) yield return $"min_accuracy must be between 0 and 1, got {MinAccuracy}";
        if (GalleryImages is < 1 or > 1000) yield return $"gallery_images must be between 1 and 1000, got {GalleryImages}";
    }
}
