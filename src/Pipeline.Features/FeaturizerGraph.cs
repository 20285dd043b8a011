using Google.Protobuf;

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

    // ONNX field numbers (onnx.proto3).
    const int ModelGraph = 7;
    const int GraphNode = 1, GraphInput = 11, GraphOutput = 12;
    const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4;
    const int ValueInfoName = 1, ValueInfoType = 2;
    const int TypeTensor = 1, TensorElemType = 1, TensorShape = 2, ShapeDim = 1, DimValue = 1, DimParam = 2;
    const int FloatElemType = 1;

    /// <summary>The featurizer's ONNX bytes made from the classifier's; <paramref name="source"/> names the file in errors.</summary>
    public static byte[] FromClassifier(byte[] classifier, string source)
    {
        try
        {
            var model = WireMessage.Parse(classifier);
            var graphField = model.First(ModelGraph) ?? throw Invalid(source, "no graph (is it an ONNX model?)");
            var graph = graphField.Message;

            var produced = graph.All(GraphNode).SelectMany(n => n.Message.All(NodeOutput)).Select(o => o.Text).ToHashSet();
            if (!produced.Contains(PooledTensor))
                throw Invalid(source, $"no node produces tensor '{PooledTensor}', the last conv's output of the zoo's MobileNetV2");
            var outputs = graph.All(GraphOutput).Select(o => o.Message.First(ValueInfoName)?.Text).ToList();
            if (outputs.Contains(FeaturesOutput))
                throw Invalid(source, $"it already has an output named '{FeaturesOutput}'; give the zoo's classifier");

            var inputField = graph.First(GraphInput) ?? throw Invalid(source, "the graph has no input");
            var (input, batchDim) = FreeSpatialDims(inputField.Message, source);
            graph.Replace(inputField, input);

            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphNode, ByteString.CopyFrom(new WireMessage()
                .Add(NodeInput, PooledTensor)
                .Add(NodeOutput, FeaturesOutput)
                .Add(NodeName, FeaturesOutput + "_GlobalAveragePool")
                .Add(NodeOpType, "GlobalAveragePool").ToByteArray())));

            var shape = new WireMessage().Add(batchDim);
            foreach (var size in new[] { Dim, 1, 1 })
                shape.Add(ShapeDim, new WireMessage().Add(DimValue, size));
            var tensor = new WireMessage().Add(TensorElemType, FloatElemType).Add(TensorShape, shape);
            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphOutput, ByteString.CopyFrom(new WireMessage()
                .Add(ValueInfoName, FeaturesOutput)
                .Add(ValueInfoType, new WireMessage().Add(TypeTensor, tensor)).ToByteArray())));

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
        var typeField = input.First(ValueInfoType) ?? throw Invalid(source, "the input has no type");
        var type = typeField.Message;
        var tensorField = type.First(TypeTensor) ?? throw Invalid(source, "the input is not a tensor");
        var tensor = tensorField.Message;
        var shapeField = tensor.First(TensorShape) ?? throw Invalid(source, "the input has no shape");
        var shape = shapeField.Message;
        var dims = shape.All(ShapeDim).ToList();
        if (dims.Count != 4)
            throw Invalid(source, $"the input has {dims.Count} dims, expected 4 (N, C, H, W)");
        for (int i = 2; i < 4; i++)
            shape.Fields[shape.Fields.IndexOf(dims[i])] =
                WireMessage.LengthDelimited(ShapeDim, ByteString.CopyFrom(new WireMessage().Add(DimParam, i == 2 ? "H" : "W").ToByteArray()));
        tensor.Replace(shapeField, shape);
        type.Replace(tensorField, tensor);
        input.Replace(typeField, type);
        return (input, dims[0]);
    }

    static FeaturizeException Invalid(string source, string problem) => new($"{source}: not a usable backbone: {problem}");
}

public sealed class FeaturizeException(string message, Exception? inner = null) : PipelineException(message, inner);
