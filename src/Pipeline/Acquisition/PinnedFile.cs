using System.IO.Compression;
using System.Security.Cryptography;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// What a file must be. <c>size</c> and <c>sha256</c> pin its bytes as served (for a <c>.gz</c>, the gzip wrapper);
/// <c>payload</c> pins what it decompresses to. Either or both: mirrors may wrap the same data differently (Debian's
/// Fashion-MNIST has other gzip headers than upstream's), and a payload pin lets every honest copy verify.
/// </summary>
public sealed record PinnedFile(long? Size, string? Sha256, PayloadPin? Payload = null)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public bool HasWrapperPin => Sha256 is not null;

    /// <summary>Null when the file is a pinned one; else what did not match.</summary>
    public string? Check(string path) => Check(path, out _);

    /// <summary>
    /// Null when the bytes match the wrapper pin or, failing that (or with no wrapper pin), the decompressed content
    /// matches the payload pin; else what did not match. <paramref name="byPayload"/>: accepted by the payload pin.
    /// </summary>
    public string? Check(string path, out bool byPayload)
    {
        byPayload = false;
        string? wrapper = null;
        if (HasWrapperPin)
        {
            long size = new FileInfo(path).Length;
            string hash = ContentHash.OfFile(path);
            if (hash == Sha256 && size == Size)
                return null;
            wrapper = size != Size ? $"{size:N0} bytes, expected {Size:N0}" : $"SHA-256 {hash} does not match the pinned {Sha256}";
        }
        bool gzip = path.EndsWith(".gz", StringComparison.Ordinal) || path.EndsWith(".gz.part", StringComparison.Ordinal);
        string? notGzip = gzip || Payload is not null ? FileSniffer.NotGzip(path) : null;
        if (notGzip is not null)
            return wrapper is null ? notGzip : $"{notGzip}; {wrapper}";
        if (Payload is null)
            return wrapper;
        string? payload = Payload.Check(path);
        if (payload is null)
        {
            byPayload = true;
            return null;
        }
        return wrapper is null ? $"decompressed: {payload}" : $"{wrapper}; decompressed: {payload}";
    }
}

/// <summary>The decompressed content of a gzip file: its length and SHA-256.</summary>
public sealed record PayloadPin(long Size, string Sha256)
{
    /// <summary>Null when <paramref name="path"/> decompresses to exactly the pinned content; else what differs.</summary>
    public string? Check(string path)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        try
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            var buffer = new byte[1 << 16];
            int read;
            while ((read = gzip.Read(buffer)) > 0)
            {
                size += read;
                if (size > Size) // stop early: a hostile mirror's gzip can inflate without end
                    return $"more than the pinned {Size:N0} bytes";
                sha.AppendData(buffer, 0, read);
            }
        }
        catch (InvalidDataException e)
        {
            return $"corrupt gzip data ({e.Message})";
        }
        if (size != Size)
            return $"{size:N0} bytes, expected {Size:N0}";
        string hash = Convert.ToHexStringLower(sha.GetHashAndReset());
        return hash == Sha256 ? null : $"SHA-256 {hash} does not match the pinned payload {Sha256}";
    }
}
