using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Stages;

/// <summary>SHA-256 as lowercase hex: the one content hash used for inputs, outputs and fingerprints.</summary>
public static class ContentHash
{
    public static string OfFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static string OfBytes(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string OfText(string text) => OfBytes(Encoding.UTF8.GetBytes(text));
}
