using System.IO.Enumeration;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Pipeline.Stages;

/// <summary>
/// <c>stage.outputs.json</c> beside <c>stage.json</c>: every output's path, size and SHA-256, sorted by path, as
/// canonical JSON. Its SHA-256 is the record's output hash, so it is content-addressed: the run cache and the shared
/// cache keep it under that hash, and whoever reads it checks it against the record first. Only a check that finds the
/// folder changed, a restore or an upload reads it; the no-op rerun does not.
/// </summary>
public static class OutputManifest
{
    public const string FileName = "stage.outputs.json";

    /// <summary>The engine's own files in a stage folder, which are not outputs: the record and this list.</summary>
    public static bool IsEngineFile(string relative) => relative is StageRecord.FileName or FileName;

    /// <summary>The list's bytes: what the output hash is the SHA-256 of.</summary>
    public static byte[] Serialize(IEnumerable<OutputFile> outputs) =>
        JsonSerializer.SerializeToUtf8Bytes(outputs.OrderBy(o => o.Path, StringComparer.Ordinal).ToList(), CanonicalJson.Options);

    /// <summary>
    /// The outputs in <paramref name="bytes"/>, which must hash to <paramref name="outputHash"/> and name only files that
    /// can be placed (relative paths inside the folder, each once, SHA-256 in lowercase hex).
    /// </summary>
    public static List<OutputFile> Parse(byte[] bytes, string outputHash)
    {
        if (ContentHash.OfBytes(bytes) != outputHash)
            throw new InvalidDataException("the output list does not match the record's output hash");
        var outputs = JsonSerializer.Deserialize<List<OutputFile>>(bytes, CanonicalJson.Options)
            ?? throw new InvalidDataException("the output list is empty");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var output in outputs)
        {
            if (!IsSha256(output.Sha256)) throw new InvalidDataException($"the output list names a file without a SHA-256: {output.Path}");
            if (!IsSafePath(output.Path) || IsEngineFile(output.Path) || !seen.Add(output.Path))
                throw new InvalidDataException($"the output list names a file that cannot be placed: {output.Path}");
        }
        return outputs;
    }

    /// <summary>The list of the run <paramref name="record"/> in <paramref name="folder"/>; null when it is missing or not the record's.</summary>
    public static List<OutputFile>? Read(string folder, StageRecord record)
    {
        try { return Parse(File.ReadAllBytes(Path.Combine(folder, FileName)), record.OutputHash); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or JsonException) { return null; }
    }

    public static bool IsSha256(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigitLower);

    /// <summary>A path inside the stage folder: relative, '/'-separated, without empty, '.' or '..' parts.</summary>
    static bool IsSafePath(string path) =>
        !Path.IsPathRooted(path) && !path.Contains('\\') && path.Split('/').All(part => part is not ("" or "." or ".."));

    /// <summary>
    /// The SHA-256 of every file in <paramref name="folder"/> but the engine's (path, size, modification time), in path
    /// order: one stat per file and no read. A record keeps it from when the files were last verified; a file added,
    /// removed, resized or written since gives another stamp (as git's index does, by size and time).
    /// </summary>
    public static string Stamp(string folder)
    {
        string[] directories = ["", .. Directory.EnumerateDirectories(folder, "*", SearchOption.AllDirectories)
            .Select(d => Path.GetRelativePath(folder, d).Replace(Path.DirectorySeparatorChar, '/'))];
        var found = new List<(string Path, long Size, long Ticks)>[directories.Length];
        Parallel.For(0, directories.Length, i =>
        {
            string prefix = directories[i].Length == 0 ? "" : directories[i] + "/";
            found[i] = [.. new FileSystemEnumerable<(string, long, long)>(Path.Combine(folder, directories[i]),
                (ref FileSystemEntry entry) => (prefix + entry.FileName.ToString(), entry.Length, entry.LastWriteTimeUtc.UtcTicks),
                new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false })
            {
                ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory,
            }];
        });
        var files = found.SelectMany(f => f).Where(f => !IsEngineFile(f.Path)).ToArray();
        Array.Sort(files, (a, b) => string.CompareOrdinal(a.Path, b.Path));
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> numbers = stackalloc byte[16];
        foreach (var (path, size, ticks) in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(path + "\0"));
            BitConverter.TryWriteBytes(numbers, size);
            BitConverter.TryWriteBytes(numbers[8..], ticks);
            sha.AppendData(numbers);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
