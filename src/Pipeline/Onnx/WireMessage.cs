using Google.Protobuf;

namespace Pipeline.Onnx;

/// <summary>
/// A protobuf message as its fields in file order, each kept as its exact encoded bytes. Without compiled schema
/// classes (no protoc here) a message can be built or edited field by field, and every field left alone, known or not,
/// is written back byte for byte. Fields are written in the order they were added.
/// </summary>
public sealed class WireMessage
{
    public sealed record Field(int Number, WireFormat.WireType Type, ReadOnlyMemory<byte> Encoded, ByteString? Payload)
    {
        /// <summary>The content of a length-delimited field: a string, bytes or a nested message.</summary>
        public byte[] Bytes => Payload?.ToByteArray() ?? throw new InvalidDataException($"field {Number} is not length-delimited");
        public string Text => Payload?.ToStringUtf8() ?? throw new InvalidDataException($"field {Number} is not length-delimited");
        public WireMessage Message => Parse(Bytes);

        /// <summary>The content of a varint field (int64, int32, enum).</summary>
        public long Int64 => Type == WireFormat.WireType.Varint
            ? ReadValue(Encoded, input => input.ReadInt64())
            : throw new InvalidDataException($"field {Number} is not a varint");

        static long ReadValue(ReadOnlyMemory<byte> encoded, Func<CodedInputStream, long> read)
        {
            var input = new CodedInputStream(encoded.ToArray());
            input.ReadTag();
            return read(input);
        }
    }

    public List<Field> Fields { get; } = [];

    /// <summary>Reads the fields; a truncated or malformed message throws <see cref="InvalidProtocolBufferException"/>.</summary>
    public static WireMessage Parse(byte[] bytes)
    {
        var message = new WireMessage();
        var input = new CodedInputStream(bytes);
        while (!input.IsAtEnd)
        {
            int start = (int)input.Position;
            uint tag = input.ReadTag();
            var type = WireFormat.GetTagWireType(tag);
            ByteString? payload = null;
            if (type == WireFormat.WireType.LengthDelimited)
                payload = input.ReadBytes();
            else
                input.SkipLastField();
            message.Fields.Add(new Field(WireFormat.GetTagFieldNumber(tag), type, bytes.AsMemory(start, (int)input.Position - start), payload));
        }
        return message;
    }

    public byte[] ToByteArray()
    {
        var output = new MemoryStream(Fields.Sum(f => f.Encoded.Length));
        foreach (var field in Fields)
            output.Write(field.Encoded.Span);
        return output.ToArray();
    }

    public IEnumerable<Field> All(int number) => Fields.Where(f => f.Number == number);

    public Field? First(int number) => Fields.FirstOrDefault(f => f.Number == number);

    public WireMessage Add(int number, string text) => Add(LengthDelimited(number, ByteString.CopyFromUtf8(text)));

    /// <summary>An int64, int32 or enum field (varint).</summary>
    public WireMessage Add(int number, long value) =>
        Add(Encode(number, WireFormat.WireType.Varint, CodedOutputStream.ComputeInt64Size(value), o => o.WriteInt64(value)));

    /// <summary>A float field (fixed32).</summary>
    public WireMessage AddFloat(int number, float value) =>
        Add(Encode(number, WireFormat.WireType.Fixed32, sizeof(float), o => o.WriteFloat(value)));

    public WireMessage AddBytes(int number, ReadOnlySpan<byte> bytes) => Add(LengthDelimited(number, ByteString.CopyFrom(bytes)));

    public WireMessage Add(int number, WireMessage nested) => Add(LengthDelimited(number, nested));

    public WireMessage Add(Field field)
    {
        Fields.Add(field);
        return this;
    }

    /// <summary>Puts <paramref name="field"/> right after the last field with the same number (or at the end).</summary>
    public void InsertAfterLast(Field field)
    {
        int last = Fields.FindLastIndex(f => f.Number == field.Number);
        Fields.Insert(last < 0 ? Fields.Count : last + 1, field);
    }

    /// <summary>Replaces a nested message in place with its edited version.</summary>
    public void Replace(Field old, WireMessage edited) => Fields[Fields.IndexOf(old)] = LengthDelimited(old.Number, edited);

    public static Field LengthDelimited(int number, WireMessage nested) => LengthDelimited(number, ByteString.CopyFrom(nested.ToByteArray()));

    public static Field LengthDelimited(int number, ByteString payload) =>
        Encode(number, WireFormat.WireType.LengthDelimited, CodedOutputStream.ComputeBytesSize(payload), o => o.WriteBytes(payload), payload);

    static Field Encode(int number, WireFormat.WireType type, int size, Action<CodedOutputStream> write, ByteString? payload = null)
    {
        var buffer = new byte[CodedOutputStream.ComputeTagSize(number) + size];
        var output = new CodedOutputStream(buffer);
        output.WriteTag(number, type);
        write(output);
        output.Flush();
        return new Field(number, type, buffer, payload);
    }
}
