using Google.Protobuf;
using Pipeline.Onnx;
using static Pipeline.Onnx.OnnxProto;

namespace Pipeline.Features;

/// <summary>
/// Turns the zoo's MobileNetV2 classifier into a featurizer by editing its ONNX protobuf: a GlobalAveragePool over the
/// last conv's output (tensor <c>627</c>, 1280×7×7 at 224×224) becomes the graph output <c>features</c>
/// ([N, 1280, 1, 1]), and the input's H and W become symbolic so any size runs. Nothing else changes: the logits stay
/// an output and every weight is copied through byte for byte.
/// </summary>
public static class FeaturizerGraph
{
    public const string PooledTensor = "627";
    public const string FeaturesOutput = "features";
    public const int Dim = 1280;

    /// <summary>The featurizer's ONNX bytes made from the classifier's; <paramref name="source"/> names the file in errors.</summary>
    public static byte[] FromClassifier(byte[] classifier, string source)
    {
        try
        {
            var model = WireMessage.Parse(classifier);
            var graphField = model.First(ModelFields.Graph) ?? throw Invalid(source, "no graph (is it an ONNX model?)");
            var graph = graphField.Message;

            var produced = graph.All(GraphFields.Node).SelectMany(n => n.Message.All(NodeFields.Output)).Select(o => o.Text).ToHashSet();
            if (!produced.Contains(PooledTensor))
                throw Invalid(source, $"no node produces tensor '{PooledTensor}', the last conv's output of the zoo's MobileNetV2");
            var outputs = graph.All(GraphFields.Output).Select(o => o.Message.First(ValueInfoFields.Name)?.Text).ToList();
            if (outputs.Contains(FeaturesOutput))
                throw Invalid(source, $"it already has an output named '{FeaturesOutput}'; give the zoo's classifier");

            var inputField = graph.First(GraphFields.Input) ?? throw Invalid(source, "the graph has no input");
            var (input, batchDim) = FreeSpatialDims(inputField.Message, source);
            graph.Replace(inputField, input);

            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphFields.Node,
                Node("GlobalAveragePool", FeaturesOutput + "_GlobalAveragePool", [PooledTensor], [FeaturesOutput])));
            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphFields.Output,
                TensorValueInfo(FeaturesOutput, DataType.Float, [batchDim.Message, OnnxProto.Dim(Dim), OnnxProto.Dim(1), OnnxProto.Dim(1)])));

            model.Replace(graphField, graph);
            return model.ToByteArray();
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException)
        {
            throw Invalid(source, $"the protobuf is truncated or corrupt ({e.Message})");
        }
    }

    /// <summary>Input dims 2 and 3 (H, W) become dim_param "H" and "W"; returns the edited input and its batch dim.</summary>
    static (WireMessage Input, WireMessage.Field BatchDim) FreeSpatialDims(WireMessage input, string source)
    {
        var typeField = input.First(ValueInfoFields.Type) ?? throw Invalid(source, "the input has no type");
        var type = typeField.Message;
        var tensorField = type.First(TypeFields.Tensor) ?? throw Invalid(source, "the input is not a tensor");
        var tensor = tensorField.Message;
        var shapeField = tensor.First(TensorTypeFields.Shape) ?? throw Invalid(source, "the input has no shape");
        var shape = shapeField.Message;
        var dims = shape.All(ShapeFields.Dim).ToList();
        if (dims.Count != 4)
            throw Invalid(source, $"the input has {dims.Count} dims, expected 4 (N, C, H, W)");
        for (int i = 2; i < 4; i++)
            shape.Fields[shape.Fields.IndexOf(dims[i])] = WireMessage.LengthDelimited(ShapeFields.Dim, OnnxProto.Dim(i == 2 ? "H" : "W"));
        tensor.Replace(shapeField, shape);
        type.Replace(tensorField, tensor);
        input.Replace(typeField, type);
        return (input, dims[0]);
    }

    static FeaturizeException Invalid(string source, string problem) => new($"{source}: not a usable backbone: {problem}");
}

public sealed class FeaturizeException(string message, Exception? inner = null) : PipelineException(message, inner);
