using Google.Protobuf;
using Pipeline.Onnx;
using static Pipeline.Onnx.ClassifierOnnx;
using static Pipeline.Onnx.OnnxProto;

namespace Pipeline.Features;

/// <summary>
/// The transfer model as one ONNX file that runs on the images themselves, fed like the CNNs (images [N, C, rows,
/// columns], pixels / 255, C = 1 gray or 3 RGB): <see cref="ImagePreprocessor"/>'s bilinear resize to the featurizer's
/// input size and ImageNet normalisation into R, G and B, the backbone up to its pooled features, then the classifier head, exported
/// alone (input <c>features</c> [N, the backbone's feature width]).
/// The backbone's classifier branch is dropped.
/// </summary>
public static class TransferGraph
{
    const string FeatureVector = "feature_vector";

    // Default-domain ops whose meaning did not change from opset 12 (the zoo file's) to 13 for the backbone's use.
    static readonly HashSet<string> SameIn12And13 =
        ["QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "Conv", "GlobalAveragePool", "Relu", "Clip", "Add", "Mul"];

    /// <summary>
    /// One model from the backbone <paramref name="classifier"/> (named <paramref name="source"/> in errors) and a head's
    /// ONNX bytes; class names and the head's metadata carry over, the input's metadata says how to feed the images.
    /// </summary>
    public static byte[] Combine(byte[] classifier, string source, int channels, int rows, int columns, int inputSize, byte[] head,
        Imaging.FramingStatistics? framing = null)
    {
        var model = WireMessage.Parse(FeaturizerGraph.FromClassifier(classifier, source).Model);
        var graphField = model.First(ModelFields.Graph)!;
        var graph = graphField.Message;
        string backboneInput = OnnxGraph.ValueName(graph.First(GraphFields.Input)!);
        OnnxGraph.Prune(graph, [FeaturizerGraph.FeaturesOutput]);
        foreach (var node in OnnxGraph.Nodes(graph))
            if ((node.First(NodeFields.Domain)?.Text ?? "") is "" or "ai.onnx" && !SameIn12And13.Contains(OnnxGraph.OpType(node)))
                throw new FeaturizeException($"{source}: the backbone uses {OnnxGraph.OpType(node)}, not known to mean the same in opset {Opset}");

        var (headModel, headGraph) = Head(head);
        OnnxGraph.RenameTensor(headGraph, FeaturesInput, FeatureVector);

        graph.Fields.RemoveAll(f => f.Number is GraphFields.Input or GraphFields.Output);
        int first = graph.Fields.FindIndex(f => f.Number == GraphFields.Node);
        var (prologue, constants) = Preprocessing(rows, columns, inputSize, backboneInput);
        graph.Fields.InsertRange(first, prologue.Select(n => WireMessage.LengthDelimited(GraphFields.Node, n)));
        var appended = new[] { Node("Flatten", FeatureVector, [FeaturizerGraph.FeaturesOutput], [FeatureVector], IntAttribute("axis", 1)) }
            .Concat(OnnxGraph.Nodes(headGraph));
        int afterNodes = graph.Fields.FindLastIndex(f => f.Number == GraphFields.Node) + 1;
        graph.Fields.InsertRange(afterNodes, appended.Select(n => WireMessage.LengthDelimited(GraphFields.Node, n)));
        foreach (var initializer in constants.Select(c => WireMessage.LengthDelimited(GraphFields.Initializer, c)).Concat(headGraph.All(GraphFields.Initializer)))
            graph.InsertAfterLast(initializer);
        graph.Add(GraphFields.Input, TensorValueInfo(ImagesInput, DataType.Float, [Dim(BatchDim), Dim(channels), Dim(rows), Dim(columns)]));
        foreach (var output in headGraph.All(GraphFields.Output)) graph.Add(output);
        if (Tensors(graph).GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } clash)
            throw new FeaturizeException($"{source}: the backbone, the head and the preprocessing would share the tensor name '{clash.Key}'");
        model.Replace(graphField, graph);

        SetDefaultOpset(model, source);
        foreach (int number in new[] { ModelFields.ProducerName, ModelFields.ProducerVersion })
            if (headModel.First(number) is { } producer && model.First(number) is { } old)
                model.Fields[model.Fields.IndexOf(old)] = producer;
        var metadata = Metadata(headModel);
        metadata["input"] = $"{ImagesInput} [{BatchDim}, {channels}, {rows}, {columns}] float32";
        foreach (var (key, value) in (framing is null ? OnnxPreprocessing.Pixels(channels) : OnnxPreprocessing.Pixels(channels, framing)).Metadata())
            metadata[key] = value;
        metadata["preprocessing"] += $"; inside the model: bilinear resize to {inputSize}×{inputSize} (pixel centres aligned), "
            + (channels == 1 ? "the gray value in R, G and B, " : "") + "ImageNet's (x − mean) / std, the backbone's pooled features, then the head";
        metadata["model"] = $"{FeaturizerGraph.FeaturesOutput} of {source} → {metadata.GetValueOrDefault("model", "head")}";
        metadata["backbone"] = source;
        model.Fields.RemoveAll(f => f.Number == ModelFields.MetadataProps);
        foreach (var (key, value) in metadata)
            model.Add(ModelFields.MetadataProps, new WireMessage().Add(EntryFields.Key, key).Add(EntryFields.Value, value));
        return model.ToByteArray();
    }

    static (WireMessage Model, WireMessage Graph) Head(byte[] head)
    {
        try
        {
            var model = WireMessage.Parse(head);
            var graph = model.First(ModelFields.Graph)?.Message ?? throw new FeaturizeException("the head's bytes are not an ONNX model");
            var inputs = graph.All(GraphFields.Input).Select(OnnxGraph.ValueName).ToList();
            if (inputs is not [FeaturesInput])
                throw new FeaturizeException($"the head's inputs are [{string.Join(", ", inputs)}], expected [{FeaturesInput}] (a head exported alone)");
            return (model, graph);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FeaturizeException($"the head's bytes are not an ONNX model ({e.Message})");
        }
    }

    /// <summary>
    /// images [N, C, rows, columns] → three ImageNet-normalised channels of size × size named <paramref name="output"/>,
    /// with <see cref="ImagePreprocessor.Write"/>'s float operations in its order (a Resize op rounds differently, and
    /// the int8 backbone's first quantization turns such last-bit differences into different features).
    /// </summary>
    static (WireMessage[] Nodes, WireMessage[] Constants) Preprocessing(int rows, int columns, int size, string output)
    {
        var xTaps = ImagePreprocessor.Taps(columns, size);
        var yTaps = ImagePreprocessor.Taps(rows, size);
        WireMessage[] nodes =
        [
            // Across each row: low + (high − low) · frac.
            Node("Gather", "resize_x_low", [ImagesInput, "resize.x_low"], ["resize_x_low"], IntAttribute("axis", 3)),
            Node("Gather", "resize_x_high", [ImagesInput, "resize.x_high"], ["resize_x_high"], IntAttribute("axis", 3)),
            Node("Sub", "resize_x_step", ["resize_x_high", "resize_x_low"], ["resize_x_step"]),
            Node("Mul", "resize_x_weighted", ["resize_x_step", "resize.x_frac"], ["resize_x_weighted"]),
            Node("Add", "resize_x", ["resize_x_low", "resize_x_weighted"], ["resize_x"]),
            // Down each column: TensorPrimitives.Lerp, fma(low, 1 − frac, high · frac) on FMA hardware. The product
            // is exact in double, so only the sum rounds twice (double, then float): equal but for ~2⁻²⁹ of the values.
            Node("Gather", "resize_y_low", ["resize_x", "resize.y_low"], ["resize_y_low"], IntAttribute("axis", 2)),
            Node("Gather", "resize_y_high", ["resize_x", "resize.y_high"], ["resize_y_high"], IntAttribute("axis", 2)),
            Node("Cast", "resize_y_low_double", ["resize_y_low"], ["resize_y_low_double"], IntAttribute("to", DataType.Double)),
            Node("Mul", "resize_y_low_weighted", ["resize_y_low_double", "resize.y_keep"], ["resize_y_low_weighted"]),
            Node("Mul", "resize_y_high_weighted", ["resize_y_high", "resize.y_frac"], ["resize_y_high_weighted"]),
            Node("Cast", "resize_y_high_double", ["resize_y_high_weighted"], ["resize_y_high_double"], IntAttribute("to", DataType.Double)),
            Node("Add", "resize_y_sum", ["resize_y_low_weighted", "resize_y_high_double"], ["resize_y_sum"]),
            Node("Cast", "resize_y", ["resize_y_sum"], ["resized"], IntAttribute("to", DataType.Float)),
            // Each channel · (1/std) + (−mean/std); a gray image's one channel is broadcast over the three.
            Node("Mul", "imagenet_scale", ["resized", "imagenet.scale"], ["imagenet_scaled"]),
            Node("Add", "imagenet_shift", ["imagenet_scaled", "imagenet.shift"], [output]),
        ];
        WireMessage[] constants =
        [
            Int64Tensor("resize.x_low", [size], xTaps.Select(t => (long)t.Low).ToArray()),
            Int64Tensor("resize.x_high", [size], xTaps.Select(t => (long)t.High).ToArray()),
            FloatTensor("resize.x_frac", [size], xTaps.Select(t => t.Frac).ToArray()),
            Int64Tensor("resize.y_low", [size], yTaps.Select(t => (long)t.Low).ToArray()),
            Int64Tensor("resize.y_high", [size], yTaps.Select(t => (long)t.High).ToArray()),
            DoubleTensor("resize.y_keep", [size, 1], yTaps.Select(t => (double)(1 - t.Frac)).ToArray()),
            FloatTensor("resize.y_frac", [size, 1], yTaps.Select(t => t.Frac).ToArray()),
            FloatTensor("imagenet.scale", [1, 3, 1, 1], ImagePreprocessor.Scale),
            FloatTensor("imagenet.shift", [1, 3, 1, 1], ImagePreprocessor.Shift),
        ];
        return (nodes, constants);
    }

    static IEnumerable<string> Tensors(WireMessage graph) =>
        OnnxGraph.Nodes(graph).SelectMany(OnnxGraph.Outputs)
            .Concat(graph.All(GraphFields.Initializer).Select(OnnxGraph.InitializerName))
            .Concat(graph.All(GraphFields.Input).Select(OnnxGraph.ValueName));

    /// <summary>The backbone's default-domain opset (12 in the zoo file) becomes the 13 the head and preprocessing use; what is left of the backbone means the same there.</summary>
    static void SetDefaultOpset(WireMessage model, string source)
    {
        var field = model.All(ModelFields.OpsetImport).FirstOrDefault(f => (f.Message.First(OpsetFields.Domain)?.Text ?? "") is "" or "ai.onnx")
            ?? throw new FeaturizeException($"{source}: no opset for the default domain");
        var opset = field.Message;
        var version = opset.First(OpsetFields.Version)!;
        long current = version.Int64;
        if (current > Opset)
            throw new FeaturizeException($"{source}: opset {current}, newer than the {Opset} the head is written for");
        opset.Fields[opset.Fields.IndexOf(version)] = new WireMessage().Add(OpsetFields.Version, Opset).Fields[0];
        model.Replace(field, opset);
    }

    static Dictionary<string, string> Metadata(WireMessage model) =>
        model.All(ModelFields.MetadataProps).Select(f => f.Message)
            .ToDictionary(m => m.First(EntryFields.Key)?.Text ?? "", m => m.First(EntryFields.Value)?.Text ?? "", StringComparer.Ordinal);
}
