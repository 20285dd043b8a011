using System.Runtime.InteropServices;

namespace Pipeline.Onnx;

/// <summary>
/// ONNX's protobuf messages (onnx.proto) written with <see cref="WireMessage"/>: the field numbers, and builders for the
/// messages a graph is made of. Fields are written in field-number order, as protobuf's own serializers do; repeated
/// integers unpacked, as onnx.proto (proto2) declares them.
/// </summary>
public static class OnnxProto
{
    public static class ModelFields
    {
        public const int IrVersion = 1, ProducerName = 2, ProducerVersion = 3, DocString = 6, Graph = 7, OpsetImport = 8, MetadataProps = 14;
    }
    public static class OpsetFields { public const int Domain = 1, Version = 2; }
    public static class EntryFields { public const int Key = 1, Value = 2; }
    public static class GraphFields { public const int Node = 1, Name = 2, Initializer = 5, DocString = 10, Input = 11, Output = 12; }
    public static class NodeFields { public const int Input = 1, Output = 2, Name = 3, OpType = 4, Attribute = 5, Domain = 7; }
    public static class AttributeFields { public const int Name = 1, F = 2, I = 3, S = 4, G = 6, Ints = 8, Graphs = 11, Type = 20; }
    public static class ValueInfoFields { public const int Name = 1, Type = 2; }
    public static class TypeFields { public const int Tensor = 1; }
    public static class TensorTypeFields { public const int ElemType = 1, Shape = 2; }
    public static class ShapeFields { public const int Dim = 1; }
    public static class DimFields { public const int Value = 1, Param = 2; }
    public static class TensorFields { public const int Dims = 1, DataType = 2, Name = 8, RawData = 9; }

    /// <summary>TensorProto.DataType values.</summary>
    public static class DataType { public const int Float = 1, Int64 = 7, Double = 11; }

    // AttributeProto.AttributeType values.
    const int AttributeFloat = 1, AttributeInt = 2, AttributeInts = 7;

    public static WireMessage Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params IEnumerable<WireMessage> attributes)
    {
        var node = new WireMessage();
        foreach (var input in inputs) node.Add(NodeFields.Input, input);
        foreach (var output in outputs) node.Add(NodeFields.Output, output);
        node.Add(NodeFields.Name, name).Add(NodeFields.OpType, opType);
        foreach (var attribute in attributes) node.Add(NodeFields.Attribute, attribute);
        return node;
    }

    public static WireMessage IntAttribute(string name, long value) =>
        new WireMessage().Add(AttributeFields.Name, name).Add(AttributeFields.I, value).Add(AttributeFields.Type, AttributeInt);

    public static WireMessage FloatAttribute(string name, float value) =>
        new WireMessage().Add(AttributeFields.Name, name).AddFloat(AttributeFields.F, value).Add(AttributeFields.Type, AttributeFloat);

    public static WireMessage IntsAttribute(string name, IEnumerable<long> values)
    {
        var attribute = new WireMessage().Add(AttributeFields.Name, name);
        foreach (var value in values) attribute.Add(AttributeFields.Ints, value);
        return attribute.Add(AttributeFields.Type, AttributeInts);
    }

    /// <summary>A float32 tensor, its values as raw little-endian bytes.</summary>
    public static WireMessage FloatTensor(string name, IEnumerable<long> dims, ReadOnlySpan<float> values) =>
        Tensor(name, dims, DataType.Float, MemoryMarshal.AsBytes(values));

    public static WireMessage DoubleTensor(string name, IEnumerable<long> dims, ReadOnlySpan<double> values) =>
        Tensor(name, dims, DataType.Double, MemoryMarshal.AsBytes(values));

    public static WireMessage Int64Tensor(string name, IEnumerable<long> dims, ReadOnlySpan<long> values) =>
        Tensor(name, dims, DataType.Int64, MemoryMarshal.AsBytes(values));

    static WireMessage Tensor(string name, IEnumerable<long> dims, int dataType, ReadOnlySpan<byte> raw)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
        var tensor = new WireMessage();
        foreach (var dim in dims) tensor.Add(TensorFields.Dims, dim);
        return tensor.Add(TensorFields.DataType, dataType).Add(TensorFields.Name, name).AddBytes(TensorFields.RawData, raw);
    }

    /// <summary>A fixed dimension.</summary>
    public static WireMessage Dim(long value) => new WireMessage().Add(DimFields.Value, value);

    /// <summary>A symbolic dimension (dim_param), e.g. the batch size.</summary>
    public static WireMessage Dim(string param) => new WireMessage().Add(DimFields.Param, param);

    /// <summary>A graph input or output: a tensor of <paramref name="elemType"/> with these dims.</summary>
    public static WireMessage TensorValueInfo(string name, int elemType, IEnumerable<WireMessage> dims)
    {
        var shape = new WireMessage();
        foreach (var dim in dims) shape.Add(ShapeFields.Dim, dim);
        var tensor = new WireMessage().Add(TensorTypeFields.ElemType, elemType).Add(TensorTypeFields.Shape, shape);
        return new WireMessage().Add(ValueInfoFields.Name, name).Add(ValueInfoFields.Type, new WireMessage().Add(TypeFields.Tensor, tensor));
    }

    public static WireMessage Graph(string name, IEnumerable<WireMessage> nodes, IEnumerable<WireMessage> initializers,
        IEnumerable<WireMessage> inputs, IEnumerable<WireMessage> outputs, string? docString = null)
    {
        var graph = new WireMessage();
        foreach (var node in nodes) graph.Add(GraphFields.Node, node);
        graph.Add(GraphFields.Name, name);
        foreach (var initializer in initializers) graph.Add(GraphFields.Initializer, initializer);
        if (docString is not null) graph.Add(GraphFields.DocString, docString);
        foreach (var input in inputs) graph.Add(GraphFields.Input, input);
        foreach (var output in outputs) graph.Add(GraphFields.Output, output);
        return graph;
    }

    /// <summary>A model of the default ("ai.onnx") domain at <paramref name="opset"/>, with string metadata.</summary>
    public static WireMessage Model(long irVersion, long opset, string producer, string producerVersion, WireMessage graph,
        IEnumerable<KeyValuePair<string, string>> metadata, string? docString = null)
    {
        var model = new WireMessage()
            .Add(ModelFields.IrVersion, irVersion)
            .Add(ModelFields.ProducerName, producer)
            .Add(ModelFields.ProducerVersion, producerVersion);
        if (docString is not null) model.Add(ModelFields.DocString, docString);
        model.Add(ModelFields.Graph, graph).Add(ModelFields.OpsetImport, new WireMessage().Add(OpsetFields.Domain, "").Add(OpsetFields.Version, opset));
        foreach (var (key, value) in metadata)
            model.Add(ModelFields.MetadataProps, new WireMessage().Add(EntryFields.Key, key).Add(EntryFields.Value, value));
        return model;
    }
}
