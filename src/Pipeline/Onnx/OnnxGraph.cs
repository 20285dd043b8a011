using static Pipeline.Onnx.OnnxProto;

namespace Pipeline.Onnx;

/// <summary>
/// Edits of a parsed GraphProto that combining graphs needs: renaming a tensor and dropping what an output does not
/// depend on. Fields that are not touched keep their bytes. Graphs with subgraphs (If, Loop) are not handled.
/// </summary>
public static class OnnxGraph
{
    public static IEnumerable<WireMessage> Nodes(WireMessage graph) => graph.All(GraphFields.Node).Select(n => n.Message);

    public static string OpType(WireMessage node) => node.First(NodeFields.OpType)?.Text ?? "";

    public static IEnumerable<string> Inputs(WireMessage node) => node.All(NodeFields.Input).Select(f => f.Text);

    public static IEnumerable<string> Outputs(WireMessage node) => node.All(NodeFields.Output).Select(f => f.Text);

    /// <summary>The name of a ValueInfoProto (graph input or output) field.</summary>
    public static string ValueName(WireMessage.Field valueInfo) => valueInfo.Message.First(ValueInfoFields.Name)?.Text ?? "";

    public static string InitializerName(WireMessage.Field tensor) => tensor.Message.First(TensorFields.Name)?.Text ?? "";

    /// <summary>A TensorProto's dims, whether written one field each or packed.</summary>
    public static IReadOnlyList<long> Dims(WireMessage tensor)
    {
        var dims = new List<long>();
        foreach (var field in tensor.All(TensorFields.Dims))
            if (field.Type == Google.Protobuf.WireFormat.WireType.Varint)
                dims.Add(field.Int64);
            else
                for (var packed = new Google.Protobuf.CodedInputStream(field.Bytes); !packed.IsAtEnd;)
                    dims.Add(packed.ReadInt64());
        return dims;
    }

    /// <summary>Renames tensor <paramref name="from"/> everywhere: node inputs and outputs, graph inputs, outputs, initializers.</summary>
    public static void RenameTensor(WireMessage graph, string from, string to)
    {
        for (int i = 0; i < graph.Fields.Count; i++)
        {
            var field = graph.Fields[i];
            int nameField = field.Number switch
            {
                GraphFields.Input or GraphFields.Output => ValueInfoFields.Name,
                GraphFields.Initializer => TensorFields.Name,
                _ => 0,
            };
            if (field.Number == GraphFields.Node)
            {
                var node = field.Message;
                if (Rename(node, NodeFields.Input, from, to) | Rename(node, NodeFields.Output, from, to))
                    graph.Fields[i] = WireMessage.LengthDelimited(field.Number, node);
            }
            else if (nameField != 0)
            {
                var message = field.Message;
                if (Rename(message, nameField, from, to))
                    graph.Fields[i] = WireMessage.LengthDelimited(field.Number, message);
            }
        }
    }

    static bool Rename(WireMessage message, int number, string from, string to)
    {
        bool changed = false;
        for (int i = 0; i < message.Fields.Count; i++)
            if (message.Fields[i].Number == number && message.Fields[i].Text == from)
            {
                message.Fields[i] = WireMessage.LengthDelimited(number, Google.Protobuf.ByteString.CopyFromUtf8(to));
                changed = true;
            }
        return changed;
    }

    /// <summary>
    /// Keeps only the graph outputs named in <paramref name="outputs"/>, the nodes they depend on, and the initializers
    /// and graph inputs those nodes read.
    /// </summary>
    public static void Prune(WireMessage graph, IReadOnlyCollection<string> outputs)
    {
        var needed = new HashSet<string>(outputs);
        var keep = new HashSet<WireMessage.Field>(ReferenceEqualityComparer.Instance);
        foreach (var field in graph.All(GraphFields.Node).Reverse())
        {
            var node = field.Message;
            if (node.All(NodeFields.Attribute).Any(a => a.Message.First(AttributeFields.G) is not null || a.Message.First(AttributeFields.Graphs) is not null))
                throw new InvalidDataException($"node '{node.First(NodeFields.Name)?.Text}' has a subgraph, which pruning does not follow");
            if (Outputs(node).Any(needed.Contains))
            {
                keep.Add(field);
                needed.UnionWith(Inputs(node).Where(i => i.Length > 0));
            }
        }
        graph.Fields.RemoveAll(f => f.Number switch
        {
            GraphFields.Node => !keep.Contains(f),
            GraphFields.Output => !outputs.Contains(ValueName(f)),
            GraphFields.Input => !needed.Contains(ValueName(f)),
            GraphFields.Initializer => !needed.Contains(InitializerName(f)),
            _ => false,
        });
    }
}
