using System.Buffers.Binary;

namespace Pipeline.Stages;

/// <summary>
/// How the shared cache holds a run's small files: packs of many files, each one content-addressed entry
/// <c>cas/&lt;sha256 of the pack&gt;</c>, instead of one entry and one request per file. A pack is a header
/// (<c>pipeline-pack-1\n</c>, the file count, then each file's SHA-256 and size) followed by the files' bodies in that
/// order. Files below <see cref="SmallFile"/> are packed, each distinct content once, in the order of the output list,
/// a new pack begun before one would pass <see cref="TargetSize"/>; larger files stay single entries. The same outputs
/// give the same packs, so a warm server receives none twice.
/// </summary>
public static class Pack
{
    /// <summary>Files smaller than this are packed (1 MiB): above it one request per file costs little beside its bytes.</summary>
    public const long SmallFile = 1 << 20;

    /// <summary>A pack holds at most this many bytes of files (64 MiB): few requests, and bounded memory on both sides.</summary>
    public const long TargetSize = 64 << 20;

    static ReadOnlySpan<byte> Magic => "pipeline-pack-1\n"u8;

    const int EntrySize = 32 + 8;

    /// <summary>Whether a file goes into a pack.</summary>
    public static bool Packed(OutputFile file) => file.Size < SmallFile;

    /// <summary>The packs the small files of <paramref name="outputs"/> go into, each a list of distinct files in list order.</summary>
    public static List<List<OutputFile>> Plan(IEnumerable<OutputFile> outputs)
    {
        var packs = new List<List<OutputFile>>();
        long size = 0;
        foreach (var file in outputs.Where(Packed).DistinctBy(o => o.Sha256))
        {
            if (packs.Count == 0 || size + file.Size > TargetSize)
            {
                packs.Add([]);
                size = 0;
            }
            packs[^1].Add(file);
            size += file.Size;
        }
        return packs;
    }

    /// <summary>The bytes of the pack of <paramref name="files"/>, read from <paramref name="folder"/>.</summary>
    public static byte[] Build(IReadOnlyList<OutputFile> files, string folder)
    {
        int header = Magic.Length + 4 + files.Count * EntrySize;
        var pack = new byte[header + files.Sum(f => f.Size)];
        Magic.CopyTo(pack);
        BinaryPrimitives.WriteInt32LittleEndian(pack.AsSpan(Magic.Length), files.Count);
        long offset = header;
        for (int i = 0; i < files.Count; i++)
        {
            var entry = pack.AsSpan(Magic.Length + 4 + i * EntrySize, EntrySize);
            Convert.FromHexString(files[i].Sha256, entry[..32], out _, out _);
            BinaryPrimitives.WriteInt64LittleEndian(entry[32..], files[i].Size);
            using var file = File.OpenRead(Path.Combine(folder, files[i].Path));
            if (file.Length != files[i].Size) throw new IOException($"{files[i].Path} has {file.Length:N0} bytes, recorded {files[i].Size:N0}");
            file.ReadExactly(pack, (int)offset, (int)files[i].Size);
            offset += files[i].Size;
        }
        return pack;
    }

    /// <summary>
    /// The files in a pack's bytes, each checked against the SHA-256 its header gives; a header that does not add up or a
    /// body that does not match is an <see cref="InvalidDataException"/>.
    /// </summary>
    public static IEnumerable<(string Sha256, ReadOnlyMemory<byte> Body)> Read(byte[] pack)
    {
        if (pack.Length < Magic.Length + 4 || !pack.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw new InvalidDataException("not a pack (its header is not pipeline-pack-1)");
        int count = BinaryPrimitives.ReadInt32LittleEndian(pack.AsSpan(Magic.Length));
        long header = Magic.Length + 4 + (long)count * EntrySize;
        if (count < 0 || header > pack.Length) throw new InvalidDataException($"its header lists {count:N0} files, more than it holds");
        long offset = header;
        var entries = new (string Sha256, long Offset, long Size)[count];
        for (int i = 0; i < count; i++)
        {
            var entry = pack.AsSpan(Magic.Length + 4 + i * EntrySize, EntrySize);
            long size = BinaryPrimitives.ReadInt64LittleEndian(entry[32..]);
            if (size < 0 || size > pack.Length - offset) throw new InvalidDataException("its files' sizes pass its end");
            entries[i] = (Convert.ToHexStringLower(entry[..32]), offset, size);
            offset += size;
        }
        if (offset != pack.Length) throw new InvalidDataException($"{pack.Length - offset:N0} bytes follow its last file");
        foreach (var (sha256, start, size) in entries)
        {
            var body = pack.AsMemory((int)start, (int)size);
            if (ContentHash.OfBytes(body.Span) != sha256) throw new InvalidDataException($"its file {sha256[..12]} does not match its SHA-256");
            yield return (sha256, body);
        }
    }
}
