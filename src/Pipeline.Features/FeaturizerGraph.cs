using Google.Protobuf;
using Pipeline.Onnx;
using static Pipeline.Onnx.OnnxProto;

namespace Pipeline.Features;

/// <summary>
/// Turns a classifier backbone into a featurizer by editing its ONNX protobuf: a GlobalAveragePool over the feature map
/// the classifier pools becomes the graph output <c>features</c> ([N, dim, 1, 1]), and the input's H and W become
/// symbolic so any size runs. Nothing else changes: the logits stay an output and every weight is copied through byte
/// for byte. For the zoo's MobileNetV2 the feature map is tensor <c>627</c> (1280×7×7 at 224×224).
/// </summary>
public static class FeaturizerGraph
{
    public const string FeaturesOutput = "features";

    /// <summary>
    /// The featurizer's ONNX bytes made from the classifier's, and the width of its features; <paramref name="source"/>
    /// names the file in errors.
    /// </summary>
    public static (byte[] Model, int Dim) FromClassifier(byte[] classifier, string source)
    {
        try
        {
            var model = WireMessage.Parse(classifier);
            var graphField = model.First(ModelFields.Graph) ?? throw Invalid(source, "no graph (is it an ONNX model?)");
            var graph = graphField.Message;

            var (featureMap, dim) = Pooled(graph, source);
            var outputs = graph.All(GraphFields.Output).Select(OnnxGraph.ValueName).ToList();
            if (outputs.Contains(FeaturesOutput))
                throw Invalid(source, $"it already has an output named '{FeaturesOutput}'; give the classifier it was made from");

            var inputField = graph.First(GraphFields.Input) ?? throw Invalid(source, "the graph has no input");
            var (input, batchDim) = FreeSpatialDims(inputField.Message, source);
            graph.Replace(inputField, input);

            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphFields.Node,
                Node("GlobalAveragePool", FeaturesOutput + "_GlobalAveragePool", [featureMap], [FeaturesOutput])));
            graph.InsertAfterLast(WireMessage.LengthDelimited(GraphFields.Output,
                TensorValueInfo(FeaturesOutput, DataType.Float, [batchDim.Message, OnnxProto.Dim(dim), OnnxProto.Dim(1), OnnxProto.Dim(1)])));

            model.Replace(graphField, graph);
            return (model.ToByteArray(), dim);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidDataException)
        {
            throw Invalid(source, $"the protobuf is truncated or corrupt ({e.Message})");
        }
    }

    // Ops between the pooling and the classifier's matrix product that keep the channel count.
    static readonly HashSet<string> Passing = ["Reshape", "Flatten", "Squeeze", "Identity", "QuantizeLinear", "DequantizeLinear"];

    /// <summary>
    /// The float feature map the classifier pools (the input of the last GlobalAveragePool, QLinearGlobalAveragePool or
    /// ReduceMean over H and W, dequantized where the model is int8) and its channel count, read from the classifier's
    /// weights (the Gemm, MatMul or QLinearMatMul that the pooled vector goes into).
    /// </summary>
    static (string FeatureMap, int Dim) Pooled(WireMessage graph, string source)
    {
        var nodes = OnnxGraph.Nodes(graph).ToList();
        var pool = nodes.LastOrDefault(IsSpatialPool) ?? throw Invalid(source,
            "no GlobalAveragePool, QLinearGlobalAveragePool or ReduceMean over H and W, so no pooled features to take");
        string featureMap = OnnxGraph.Inputs(pool).First();
        if (OnnxGraph.OpType(pool) == "QLinearGlobalAveragePool")
            featureMap = nodes.Where(n => OnnxGraph.OpType(n) == "DequantizeLinear" && OnnxGraph.Inputs(n).First() == featureMap)
                .Select(n => OnnxGraph.Outputs(n).First()).FirstOrDefault()
                ?? throw Invalid(source, $"the pooled tensor '{featureMap}' is int8 and no DequantizeLinear of it gives float values");

        // Forward from the pool through reshapes and (de)quantization to the classifier's matrix product.
        var reached = new Queue<string>(OnnxGraph.Outputs(pool));
        var seen = new HashSet<string>(reached);
        while (reached.TryDequeue(out var tensor))
            foreach (var node in nodes.Where(n => OnnxGraph.Inputs(n).FirstOrDefault() == tensor))
            {
                string op = OnnxGraph.OpType(node);
                if (Passing.Contains(op))
                {
                    foreach (var output in OnnxGraph.Outputs(node))
                        if (seen.Add(output)) reached.Enqueue(output);
                }
                else if (ClassifierWidth(node, op, graph, nodes) is { } dim)
                    return (featureMap, dim);
            }
        throw Invalid(source, $"no Gemm, MatMul or QLinearMatMul with weights in the graph takes the pooled '{featureMap}', so its width is unknown");
    }

    static bool IsSpatialPool(WireMessage node) => OnnxGraph.OpType(node) switch
    {
        "GlobalAveragePool" or "QLinearGlobalAveragePool" => true,
        "ReduceMean" => node.All(NodeFields.Attribute).Select(a => a.Message)
            .FirstOrDefault(a => a.First(AttributeFields.Name)?.Text == "axes") is { } axes
            && axes.All(AttributeFields.Ints).Select(i => i.Int64).Order().SequenceEqual([2L, 3L]),
        _ => false,
    };

    /// <summary>The input width of a classifier's matrix product: its weight's first dim (the second for a Gemm with transB).</summary>
    static int? ClassifierWidth(WireMessage node, string op, WireMessage graph, List<WireMessage> nodes)
    {
        var inputs = OnnxGraph.Inputs(node).ToList();
        int weight = op switch { "Gemm" or "MatMul" => 1, "QLinearMatMul" => 3, _ => -1 };
        if (weight < 0 || weight >= inputs.Count) return null;
        bool transposed = op == "Gemm" && node.All(NodeFields.Attribute).Select(a => a.Message)
            .Any(a => a.First(AttributeFields.Name)?.Text == "transB" && a.First(AttributeFields.I)?.Int64 == 1);
        // A QDQ model dequantizes its weights from an int8 initializer.
        string name = inputs[weight];
        if (nodes.FirstOrDefault(n => OnnxGraph.Outputs(n).Contains(name) && OnnxGraph.OpType(n) == "DequantizeLinear") is { } dequantize)
            name = OnnxGraph.Inputs(dequantize).First();
        var tensor = graph.All(GraphFields.Initializer).FirstOrDefault(t => OnnxGraph.InitializerName(t) == name)?.Message;
        IReadOnlyList<long> dims = tensor is null ? [] : OnnxGraph.Dims(tensor);
        return dims.Count == 2 ? checked((int)dims[transposed ? 1 : 0]) : null;
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
