using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Pipeline.Onnx;
using Pipeline.Training.Models;
using TorchSharp;
using TorchSharp.Modules;
using static Pipeline.Onnx.ClassifierOnnx;
using static Pipeline.Onnx.OnnxProto;
using static TorchSharp.torch;

namespace Pipeline.Training.Onnx;

/// <summary>
/// Writes a TorchSharp model as an ONNX file (TorchSharp has no exporter), in the form of <see cref="ClassifierOnnx"/>:
/// input <c>images</c> [N, C, H, W] (or <c>features</c> [N, dim] for a classifier head) with a symbolic batch size N,
/// outputs <c>logits</c> and <c>probabilities</c> (softmax over the classes), weights as initializers, class names and
/// preprocessing in metadata_props. The graph is the model's eval-mode forward: batch-norm uses its running statistics,
/// dropout is left out.
/// </summary>
public static class OnnxExport
{
    public const string Producer = "Pipeline.Training";

    /// <summary>
    /// Writes <paramref name="module"/> to <paramref name="path"/>. <paramref name="inputShape"/> is one example's shape
    /// without the batch dimension: (C, H, W) for an image model, (dim) for a head.
    /// </summary>
    public static void Export(nn.Module<Tensor, Tensor> module, string modelName, long[] inputShape, IReadOnlyList<string> classes,
        OnnxPreprocessing preprocessing, string path) =>
        File.WriteAllBytes(path, ToBytes(module, modelName, inputShape, classes, preprocessing));

    /// <summary>The ONNX file's bytes; see <see cref="Export"/>.</summary>
    public static byte[] ToBytes(nn.Module<Tensor, Tensor> module, string modelName, long[] inputShape, IReadOnlyList<string> classes,
        OnnxPreprocessing preprocessing)
    {
        if (inputShape.Length is not (1 or 3))
            throw new ArgumentException($"an example's shape is (C, H, W) or (dim), got ({string.Join(", ", inputShape)})", nameof(inputShape));
        string input = inputShape.Length == 3 ? ImagesInput : FeaturesInput;
        var graph = new GraphBuilder(modelName, input);
        var layers = new List<(string Name, nn.Module Module)>();
        Leaves(module, "", layers);

        bool training = module.training;
        module.eval();
        try
        {
            // Each layer runs once on a dummy example so its input shape is known (Linear needs rank 2, Flatten's axis).
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var x = zeros([1, .. inputShape]);
            foreach (var (name, layer) in layers)
            {
                graph.Add(name, layer, x.shape);
                x = ((nn.Module<Tensor, Tensor>)layer).call(x);
            }
            if (x.shape.Length != 2 || x.shape[1] != classes.Count)
                throw new OnnxExportException($"model '{modelName}' gives outputs of shape ({string.Join(", ", x.shape[1..])}) per example, "
                    + $"not one logit for each of the {classes.Count} classes");
        }
        finally
        {
            module.train(training);
        }

        var dims = inputShape.Select(d => OnnxProto.Dim(d)).Prepend(OnnxProto.Dim(BatchDim));
        var metadata = new List<KeyValuePair<string, string>>
        {
            new("model", modelName),
            new("classes", JsonSerializer.Serialize(classes)),
            new("input", $"{input} [{string.Join(", ", inputShape.Select(d => d.ToString(CultureInfo.InvariantCulture)).Prepend(BatchDim))}] float32"),
            new("outputs", $"{LogitsOutput} [N, {classes.Count}]: one score per class; {ProbabilitiesOutput} [N, {classes.Count}]: their softmax"),
        };
        metadata.AddRange(preprocessing.Metadata());
        string? description = ModelCatalog.ImageModels.ContainsKey(modelName) || ModelCatalog.Heads.ContainsKey(modelName) ? ModelCatalog.Describe(modelName) : null;
        var model = Model(IrVersion, Opset, Producer, ProducerVersion,
            graph.Build(TensorValueInfo(input, DataType.Float, dims), classes.Count), metadata, description);
        return model.ToByteArray();
    }

    static string ProducerVersion =>
        typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    /// <summary>The layers in forward order, nested Sequentials opened, named as in the state dict.</summary>
    static void Leaves(nn.Module module, string prefix, List<(string, nn.Module)> layers)
    {
        if (module is Sequential sequential)
            foreach (var (name, child) in sequential.named_children())
                Leaves(child, prefix + name + ".", layers);
        else
            layers.Add((prefix.Length == 0 ? module.GetName() : prefix.TrimEnd('.'), module));
    }

    /// <summary>Nodes and initializers in forward order; the last tensor made becomes <c>logits</c>.</summary>
    sealed class GraphBuilder
    {
        readonly List<(string OpType, string Name, string[] Inputs, string[] Outputs, WireMessage[] Attributes)> nodes = [];
        readonly List<WireMessage> initializers = [];
        readonly HashSet<string> names;
        readonly string modelName, input;
        string current;

        public GraphBuilder(string modelName, string input) => (this.modelName, this.input, current, names) = (modelName, input, input, [input]);

        public void Add(string name, nn.Module layer, long[] inputShape)
        {
            switch (layer)
            {
                case Conv2d conv: Conv(name, conv); break;
                case Conv2dRelu fused:
                    Node("Conv", name, [current, Initializer(name + ".weight", fused.weight), Initializer(name + ".bias", fused.bias)],
                        IntsAttribute("kernel_shape", [3, 3]), IntsAttribute("pads", [0, 0, 0, 0]), IntsAttribute("strides", [1, 1]));
                    Node("Relu", "relu");
                    break;
                case BatchNorm2d norm: BatchNorm(name, norm); break;
                case ReLU: Node("Relu", name); break;
                case MaxPool2d pool: MaxPool(name, pool); break;
                case AdaptiveAvgPool2d pool: GlobalAveragePool(name, pool, inputShape); break;
                case Flatten flatten: FlattenAll(name, flatten, inputShape.Length); break;
                case Linear linear: Dense(name, linear, inputShape.Length); break;
                case Dropout or Dropout1d or Dropout2d or Dropout3d or AlphaDropout or FeatureAlphaDropout or Identity: break; // identity in eval mode
                default: throw Unsupported(name, layer.GetType().Name);
            }
        }

        /// <summary>Average pooling to 1×1 is ONNX's GlobalAveragePool; other output sizes are not exported.</summary>
        void GlobalAveragePool(string name, AdaptiveAvgPool2d pool, long[] inputShape)
        {
            using var probe = pool.call(zeros(inputShape));
            if (probe.shape is not [_, _, 1, 1])
                throw Unsupported(name, $"AdaptiveAvgPool2d to {probe.shape[2]}×{probe.shape[3]} (only 1×1, GlobalAveragePool)");
            Node("GlobalAveragePool", name);
        }

        void Conv(string name, Conv2d conv)
        {
            if (conv.transposed || conv.padding_mode != PaddingModes.Zeros)
                throw Unsupported(name, $"Conv2d with {(conv.transposed ? "transposition" : $"padding mode {conv.padding_mode}")}");
            var kernel = conv.kernel_size;
            var dilation = conv.dilation ?? [1, 1];
            long[] total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
            long[] padding = conv.padding_type switch
            {
                null => conv.padding ?? [0, 0],
                Padding.Valid => [0, 0],
                // 'same' as torch pads it: half of the total before, the rest after.
                Padding.Same => [total[0] / 2, total[1] / 2, total[0] - total[0] / 2, total[1] - total[1] / 2],
                _ => throw Unsupported(name, $"Conv2d with padding {conv.padding_type}"),
            };
            if (padding.Length == 2) padding = [padding[0], padding[1], padding[0], padding[1]];
            var inputs = new List<string> { current, Initializer(name + ".weight", conv.weight!) };
            if (conv.bias is not null) inputs.Add(Initializer(name + ".bias", conv.bias));
            Node("Conv", name, inputs,
                IntsAttribute("dilations", dilation),
                IntAttribute("group", conv.groups),
                IntsAttribute("kernel_shape", kernel),
                IntsAttribute("pads", padding),
                IntsAttribute("strides", conv.stride ?? [1, 1]));
        }

        void BatchNorm(string name, BatchNorm2d norm)
        {
            if (norm.running_mean is null || norm.running_var is null)
                throw Unsupported(name, "BatchNorm2d without running statistics");
            long channels = norm.num_features;
            string scale = norm.weight is null ? Constant(name + ".weight", channels, 1f) : Initializer(name + ".weight", norm.weight);
            string bias = norm.bias is null ? Constant(name + ".bias", channels, 0f) : Initializer(name + ".bias", norm.bias);
            Node("BatchNormalization", name,
                [current, scale, bias, Initializer(name + ".running_mean", norm.running_mean), Initializer(name + ".running_var", norm.running_var)],
                FloatAttribute("epsilon", (float)norm.eps));
        }

        void MaxPool(string name, MaxPool2d pool)
        {
            if (pool.ceil_mode)
                throw Unsupported(name, "MaxPool2d with ceil_mode");
            var kernel = pool.kernel_size;
            var padding = pool.padding ?? [0, 0];
            Node("MaxPool", name, [current],
                IntsAttribute("dilations", pool.dilation ?? [1, 1]),
                IntsAttribute("kernel_shape", kernel),
                IntsAttribute("pads", padding.Length == 2 ? [padding[0], padding[1], padding[0], padding[1]] : padding),
                IntsAttribute("strides", pool.stride ?? kernel));
        }

        void FlattenAll(string name, Flatten flatten, int rank)
        {
            long start = flatten.start_dim < 0 ? flatten.start_dim + rank : flatten.start_dim;
            long end = flatten.end_dim < 0 ? flatten.end_dim + rank : flatten.end_dim;
            if (start != 1 || end != rank - 1)
                throw Unsupported(name, $"Flatten of dims {flatten.start_dim}..{flatten.end_dim} (only 1..-1, all but the batch)");
            // Row-major over (C, H, W), as torch flattens: the order the following Linear's weights expect.
            Node("Flatten", name, [current], IntAttribute("axis", 1));
        }

        void Dense(string name, Linear linear, int rank)
        {
            if (rank != 2)
                throw Unsupported(name, $"Linear on a rank-{rank} input");
            var inputs = new List<string> { current, Initializer(name + ".weight", linear.weight) };
            if (linear.bias is not null) inputs.Add(Initializer(name + ".bias", linear.bias));
            Node("Gemm", name, inputs, IntAttribute("transB", 1)); // x · Wᵀ + b, W as torch stores it (out × in)
        }

        void Node(string opType, string name, IEnumerable<string>? inputs = null, params WireMessage[] attributes)
        {
            string output = Unique(name);
            nodes.Add((opType, name, [.. inputs ?? [current]], [output], attributes));
            current = output;
        }

        string Initializer(string name, Tensor weights)
        {
            using var values = weights.detach().cpu().to_type(ScalarType.Float32).contiguous();
            initializers.Add(FloatTensor(Unique(name), values.shape, values.data<float>().ToArray()));
            return name;
        }

        string Constant(string name, long length, float value)
        {
            initializers.Add(FloatTensor(Unique(name), [length], Enumerable.Repeat(value, (int)length).ToArray()));
            return name;
        }

        string Unique(string name)
        {
            if (!names.Add(name))
                throw new OnnxExportException($"model '{modelName}': two tensors would be named '{name}'");
            return name;
        }

        OnnxExportException Unsupported(string layer, string what) =>
            new($"cannot export layer '{layer}' ({what}) of model '{modelName}' to ONNX yet; "
                + "the exporter knows Conv2d, Conv2dRelu, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d to 1×1, Flatten, Linear, Dropout, Identity and Sequential");

        public WireMessage Build(WireMessage inputInfo, int classes)
        {
            if (nodes.Count == 0 || current == input)
                throw new OnnxExportException($"model '{modelName}' has no layer to export");
            var last = nodes[^1];
            nodes[^1] = last with { Outputs = [LogitsOutput] };
            var outputs = new[] { LogitsOutput, ProbabilitiesOutput }
                .Select(o => TensorValueInfo(o, DataType.Float, [OnnxProto.Dim(BatchDim), OnnxProto.Dim(classes)]));
            return Graph(modelName,
                [.. nodes.Select(n => OnnxProto.Node(n.OpType, n.Name, n.Inputs, n.Outputs, n.Attributes)),
                 OnnxProto.Node("Softmax", "softmax", [LogitsOutput], [ProbabilitiesOutput], IntAttribute("axis", 1))],
                initializers, [inputInfo], outputs);
        }
    }
}

/// <summary>A model the exporter cannot write; the message names the layer and the model.</summary>
public sealed class OnnxExportException(string message) : PipelineException(message);
