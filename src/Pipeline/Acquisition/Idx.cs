using System.Buffers.Binary;
using System.IO.Compression;

namespace Pipeline.Acquisition;

/// <summary>An IDX array of unsigned bytes: its dimensions and its data, checked against the header.</summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    public int Count => Dimensions[0];
}

/// <summary>Reads gzip-compressed IDX files (the MNIST format) with errors that name the file and the fault.</summary>
public static class Idx
{
    /// <summary>Magic of an unsigned-byte IDX file with <paramref name="dimensions"/> dimensions (0x00000803 for images).</summary>
    public static int Magic(int dimensions) => 0x0800 | dimensions;

    public static IdxArray ReadGzip(string path, int dimensions)
    {
        string name = Path.GetFileName(path);
        if (FileSniffer.NotGzip(path) is { } notGzip)
            throw new IdxException($"{name}: {notGzip}");
        byte[] data;
        try
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var buffer = new MemoryStream();
            gzip.CopyTo(buffer);
            data = buffer.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new IdxException($"{name}: corrupt gzip data ({e.Message})");
        }
        return Parse(data, name, dimensions);
    }

    public static IdxArray Parse(byte[] data, string name, int dimensions)
    {
        int headerLength = 4 + 4 * dimensions;
        if (data.Length < headerLength)
            throw new IdxException($"{name}: {data.Length} bytes, too short for an IDX header of {headerLength} bytes");
        int magic = BinaryPrimitives.ReadInt32BigEndian(data);
        int expected = Magic(dimensions);
        if (magic != expected)
            throw new IdxException($"{name}: magic 0x{magic:X8}, expected 0x{expected:X8} (unsigned bytes, {dimensions} dimension{(dimensions == 1 ? "" : "s")})");
        var dims = new int[dimensions];
        long size = 1;
        for (int i = 0; i < dimensions; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4 + 4 * i));
            if (dims[i] < 0)
                throw new IdxException($"{name}: dimension {i} is negative ({dims[i]})");
            size *= dims[i];
        }
        long actual = data.Length - headerLength;
        if (actual != size)
            throw new IdxException($"{name}: header declares {string.Join(" × ", dims)} = {size:N0} data bytes, the file holds {actual:N0}");
        return new IdxArray(dims, data[headerLength..]);
    }
}

public sealed class IdxException(string message) : PipelineException(message);
