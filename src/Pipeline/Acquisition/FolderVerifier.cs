using System.Buffers.Binary;
using System.Security.Cryptography;
using Pipeline.Imaging;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Acquisition;

/// <summary>A file Verify left out with <c>verify.skip_unreadable</c>, and why.</summary>
public sealed record SkippedFile(string Path, string Problem);

/// <summary>One image of a split: the split and the file's path relative to the dataset's root.</summary>
public sealed record SplitFile(string Split, string Path);

/// <summary>Files in more than one split whose images (as Verify wrote them) are the same bytes: a leak between splits.</summary>
public sealed record PixelLeak(string Pixels, IReadOnlyList<SplitFile> Files);

/// <summary>
/// Verify for a folder dataset: every file Download listed is read, checked against its listed SHA-256, decoded
/// (<see cref="ImageLoader"/>: whatever Skia decodes, by content, not by name), converted to the definition's channels
/// and fitted to its size, and written straight into its split's arrays, in Verify's form for IDX datasets. Images are
/// decoded in parallel a chunk at a time and written in order, so memory holds one chunk of fitted images, never the
/// dataset. Also writes a contact sheet of the inputs as decoded and reports images whose pixels are in two splits.
/// </summary>
public static class FolderVerifier
{
    public const string SheetFile = "inputs.png";
    const int SheetPerClass = 8, SheetClasses = 40;

    /// <summary>Images decoded at a time: about 64 MB of fitted pixels, 16 to 256 images (enough to keep every core busy).</summary>
    static int ChunkImages(int imageSize) => Math.Clamp((64 << 20) / imageSize, 16, 256);

    /// <summary>
    /// Where a file's path puts it in [0, 1): the first 64 bits of the SHA-256 of its path (UTF-8, '/' separators).
    /// Depends on the path alone, so adding or removing other files never moves it to another split.
    /// </summary>
    public static double Position(string path) =>
        BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path))) / 18446744073709551616.0;

    /// <summary>
    /// The split of a file. Hashed splits take bands of the position: [0, validation) validation, then test's share,
    /// the rest train. With split folders the folder says; without a validation/ folder, train/'s files in the validation
    /// band become the validation split.
    /// </summary>
    public static string SplitOf(DatasetDefinition definition, string path, bool validationFolder)
    {
        var fractions = definition.SplitFractions!;
        double position = Position(path);
        if (definition.SplitBy == "folders")
        {
            string folder = path[..path.IndexOf('/')];
            return folder == "train" && !validationFolder && position < fractions["validation"] ? "validation" : folder;
        }
        return position < fractions["validation"] ? "validation"
            : position < fractions["validation"] + fractions["test"] ? "test"
            : "train";
    }

    public static Inventory Verify(DatasetDefinition definition, FolderListing listing, string downloads, bool skipUnreadable,
        long maxPixels, string output, ILogger log, CancellationToken cancellation = default)
    {
        string root = listing.RootIn(downloads);
        int channels = definition.Channels!.Value, size = definition.ImageSize!.Value, imageSize = channels * size * size;
        bool pad = definition.Resize == "pad";
        byte background = (byte)definition.Background!.Value;
        var labels = definition.Classes.Select((name, label) => (name, label)).ToDictionary(c => c.name, c => c.label, StringComparer.Ordinal);
        bool byFolders = definition.SplitBy == "folders";
        bool validationFolder = byFolders && listing.Files.Any(f => f.Path.StartsWith("validation/", StringComparison.Ordinal));

        var splits = VerifiedDataset.SplitOrder.ToDictionary(s => s, _ => new List<(int Label, FolderFile File)>());
        foreach (var file in listing.Files)
        {
            var parts = file.Path.Split('/');
            string className = parts[byFolders ? 1 : 0];
            if (!labels.TryGetValue(className, out int label))
                throw new DatasetException($"{file.Path}: class folder '{className}' is not one of the dataset's classes");
            splits[SplitOf(definition, file.Path, validationFolder)].Add((label, file));
        }

        Directory.CreateDirectory(output);
        var progress = new Progress(log, "verify", listing.Files.Count, "images");
        var problems = new List<string>();
        var skipped = new List<SkippedFile>();
        var seen = new Dictionary<UInt128, (SplitFile First, List<SplitFile>? More)>();
        var sheet = new List<Tile>[Math.Min(definition.Classes.Count, SheetClasses)];
        for (int c = 0; c < sheet.Length; c++) sheet[c] = [];
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var perClass = new SortedDictionary<string, int[]>(StringComparer.Ordinal);

        foreach (var (split, entries) in splits)
        {
            entries.Sort((a, b) => a.Label != b.Label ? a.Label.CompareTo(b.Label) : string.CompareOrdinal(a.File.Path, b.File.Path));
            var classCounts = new int[definition.Classes.Count];
            using (var images = new FileStream(Path.Combine(output, VerifiedDataset.ImagesFile(split)), FileMode.Create, FileAccess.Write))
            using (var labelFile = new FileStream(Path.Combine(output, VerifiedDataset.LabelsFile(split)), FileMode.Create, FileAccess.Write))
            {
                int chunk = ChunkImages(imageSize);
                var results = new (byte[]? Pixels, UInt128 Hash, string? Problem, bool Unreadable)[chunk];
                for (int start = 0; start < entries.Count; start += chunk)
                {
                    int count = Math.Min(chunk, entries.Count - start);
                    Parallel.For(0, count, new ParallelOptions { CancellationToken = cancellation }, i =>
                    {
                        results[i] = Load(root, entries[start + i].File, channels, size, pad, background, maxPixels);
                        progress.Add(1);
                    });
                    for (int i = 0; i < count; i++)
                    {
                        var (label, file) = entries[start + i];
                        var (pixels, hash, problem, unreadable) = results[i];
                        results[i] = default;
                        if (problem is not null)
                        {
                            if (skipUnreadable && unreadable) skipped.Add(new SkippedFile(file.Path, problem));
                            else problems.Add($"{Named(root, file.Path)}: {problem}");
                            continue;
                        }
                        if (problems.Count > 0) continue; // the run fails: decode the rest only to name every bad file
                        images.Write(pixels);
                        labelFile.WriteByte((byte)label);
                        classCounts[label]++;
                        var where = new SplitFile(split, file.Path);
                        if (!seen.TryGetValue(hash, out var known)) seen[hash] = (where, null);
                        else seen[hash] = (known.First, [.. known.More ?? [], where]);
                        if (split == "train" && label < sheet.Length && sheet[label].Count < SheetPerClass)
                            sheet[label].Add(new Tile(pixels!, size, size, definition.Classes[label], channels));
                    }
                }
            }
            counts[split] = classCounts.Sum();
            perClass[split] = classCounts;
        }
        progress.Complete();

        if (problems.Count > 0)
            throw new DatasetException($"{problems.Count} file{(problems.Count == 1 ? "" : "s")} cannot be used:\n  {string.Join("\n  ", problems.Take(20))}"
                + (problems.Count > 20 ? $"\n  and {problems.Count - 20} more" : "")
                + (problems.Any(p => p.Contains("changed since")) ? "" : "\nTo leave out files that do not decode: --set verify.skip_unreadable=true"));
        var empty = new List<string>();
        foreach (var (split, classCounts) in perClass)
        {
            if (counts[split] == 0) empty.Add($"the {split} split has no images");
            else if (split == "train")
                empty.AddRange(definition.Classes.Where((_, label) => classCounts[label] == 0).Select(c => $"class '{c}' has no usable images in train"));
        }
        if (empty.Count > 0)
            throw new DatasetException($"{definition.Name}: {string.Join("; ", empty)} (split_fractions {CanonicalJson.Serialize(definition.SplitFractions)})");

        var leaks = seen.Where(s => s.Value.More is { } more && more.Any(m => m.Split != s.Value.First.Split))
            .Select(s => new PixelLeak(Hex(s.Key), [s.Value.First, .. s.Value.More!]))
            .OrderBy(l => l.Files[0].Split, StringComparer.Ordinal).ThenBy(l => l.Files[0].Path, StringComparer.Ordinal)
            .ToList();
        foreach (var file in skipped)
            log.Warning("Skipped {File}: {Problem}", Named(root, file.Path), file.Problem);
        if (leaks.Count > 0)
            log.Warning("{Count} images are in more than one split (the same pixels), e.g. {Example}; inventory.json lists them all", leaks.Count,
                string.Join(" = ", leaks[0].Files.Select(f => $"{f.Split}: {f.Path}")));

        var tiles = sheet.Where(t => t.Count > 0).SelectMany(t => t.Concat(Enumerable.Range(0, SheetPerClass - t.Count)
            .Select(_ => new Tile(Enumerable.Repeat((byte)255, imageSize).ToArray(), size, size, "", channels)))).ToList();
        File.WriteAllBytes(Path.Combine(output, SheetFile), ContactSheet.Render(tiles, SheetPerClass, Math.Max(1, 64 / size)));

        CanonicalJson.WriteFile(Path.Combine(output, VerifiedDataset.FileName),
            new VerifiedDataset(definition.Name, definition.Classes, size, size, counts, channels));
        var inventory = new Inventory(definition.Name, definition.Classes, counts, perClass) { Skipped = skipped, Leaks = leaks };
        CanonicalJson.WriteFile(Path.Combine(output, Inventory.FileName), inventory);
        return inventory;
    }

    /// <summary>One file as its split's array holds it, with the hash of those bytes; or what is wrong with it.</summary>
    static (byte[]? Pixels, UInt128 Hash, string? Problem, bool Unreadable) Load(string root, FolderFile file, int channels, int size, bool pad, byte background,
        long maxPixels)
    {
        string path = Path.Combine(root, file.Path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, default, $"cannot read it ({e.Message}); it changed since Download listed it: run the build again", false);
        }
        // The bytes decoded are the bytes Download listed (and the fingerprint holds), or the run stops.
        if (bytes.Length != file.Size || ContentHash.OfBytes(bytes) != file.Sha256)
            return (null, default, "changed since Download listed it: run the build again", false);
        try
        {
            var pixels = ImageLoader.Load(bytes, file.Path, channels, size, size, pad, background, maxPixels);
            return (pixels, BinaryPrimitives.ReadUInt128BigEndian(SHA256.HashData(pixels)), null, false);
        }
        catch (ImageException e)
        {
            // The loader's message starts with the name it was given.
            return (null, default, e.Message[(file.Path.Length + 2)..], true);
        }
    }

    static string Named(string root, string path) => ImageFiles.Named(Path.Combine(root, path));

    static string Hex(UInt128 hash)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, hash);
        return Convert.ToHexStringLower(bytes);
    }
}
