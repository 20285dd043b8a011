using System.Text;

namespace Pipeline.Acquisition;

/// <summary>Says in a few words what a file that should be gzip actually is, for error messages.</summary>
public static class FileSniffer
{
    public static bool IsGzip(ReadOnlySpan<byte> head) => head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b;

    /// <summary>Null when the file starts like gzip; else e.g. <c>not gzip (starts with "&lt;!DOCTYPE html")</c>.</summary>
    public static string? NotGzip(string path)
    {
        var head = new byte[16];
        int n;
        using (var stream = File.OpenRead(path))
            n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (IsGzip(head.AsSpan(0, n)))
            return null;
        if (n == 0)
            return "not gzip (the file is empty)";
        int text = head.AsSpan(0, n).IndexOfAnyExceptInRange((byte)0x20, (byte)0x7e);
        if (text < 0) text = n;
        string start = text >= 4 ? $"\"{Encoding.ASCII.GetString(head, 0, text)}\"" : "bytes " + Convert.ToHexStringLower(head, 0, Math.Min(n, 8));
        return $"not gzip (starts with {start})";
    }
}
