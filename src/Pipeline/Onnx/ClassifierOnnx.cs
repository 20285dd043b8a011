namespace Pipeline.Onnx;

/// <summary>What every classifier file the project writes has in common, so that a caller runs any of them the same way.</summary>
public static class ClassifierOnnx
{
    /// <summary>Opset 13 with its IR version (ONNX 1.8): old enough for every current runtime and checker.</summary>
    public const int Opset = 13, IrVersion = 7;

    /// <summary>Inputs: images [N, C, H, W], or feature vectors [N, dim] for a head alone.</summary>
    public const string ImagesInput = "images", FeaturesInput = "features";

    /// <summary>Outputs, both [N, classes]: one score per class, and their softmax.</summary>
    public const string LogitsOutput = "logits", ProbabilitiesOutput = "probabilities";

    /// <summary>The symbolic batch dimension.</summary>
    public const string BatchDim = "N";
}
