using Pipeline.Parameters;

namespace Pipeline.Prediction;

/// <summary>The <c>predict</c> section; the host fills it from <c>--images</c>, <c>--top</c> and <c>--model</c>.</summary>
[ParameterSection("predict")]
public sealed record PredictParameters : IValidatedParameters
{
    /// <summary>Image files, folders or globs (<see cref="Imaging.ImageFiles"/>); relative ones are relative to the
    /// repository (the host makes those of <c>--images</c> absolute, from the working directory).</summary>
    public string[] Images { get; init; } = [];
    /// <summary>How many of the most probable classes each image reports.</summary>
    public int Top { get; init; } = 3;
    /// <summary>An ONNX file to classify with instead of the pipeline's models; "" = Train's (and Transfer's).</summary>
    public string Model { get; init; } = "";
    /// <summary>"auto": each image framed as the model's training images are (<see cref="Imaging.Framing"/>); "none": resized whole.</summary>
    public string Framing { get; init; } = "auto";
    /// <summary>An image whose unlikeness (<see cref="Imaging.Framing.Unlikeness"/>) is above this is marked unlike the training images.</summary>
    public double UnlikeThreshold { get; init; } = 3;

    public IEnumerable<string> Validate()
    {
        if (Top < 1) yield return $"top must be at least 1, got {Top}";
        if (Images.Any(string.IsNullOrWhiteSpace)) yield return "images: an entry is empty";
        if (Framing is not ("auto" or "none")) yield return $"framing must be \"auto\" or \"none\", got \"{Framing}\"";
        if (!(UnlikeThreshold > 0)) yield return $"unlike_threshold must be above 0, got {UnlikeThreshold}";
    }
}
