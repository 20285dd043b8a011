using System.Collections.Concurrent;
using System.Text.Json;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// One file of a folder dataset: its path relative to the dataset's root ('/' separators), size and SHA-256.
/// <see cref="Modified"/> (UTC ticks) only spares hashing it again while its size and time stay the same. Declared in
/// key order, as is <see cref="FolderListing"/>, so that the serializer writes canonical JSON by itself.
/// </summary>
public sealed record FolderFile(long Modified, string Path, string Sha256, long Size);

/// <summary>
/// Download's record of a folder dataset (<c>files.json</c>): its root (absolute for a local folder, relative to
/// Download's folder for an extracted archive) and every file under it, sorted by path (ordinal). Hidden files and
/// folders (names starting with '.') and macOS's <c>__MACOSX</c> folders are not part of a dataset.
/// </summary>
public sealed record FolderListing(IReadOnlyList<FolderFile> Files, string Root)
{
    public const string FileName = "files.json";

    /// <summary>The content as a hash of every file's path, size and SHA-256 (not its time): a changed, added or removed file changes it.</summary>
    public string ContentHash()
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var file in Files)
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{file.Path}\0{file.Size}\0{file.Sha256}\n"));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// Writes files.json. Not through <see cref="CanonicalJson.WriteFile"/>, whose generic sorting re-parses every
    /// value (seconds for 100,000 files): the records are declared in key order, so this is the same canonical form.
    /// </summary>
    public void Write(string folder)
    {
        string path = System.IO.Path.Combine(folder, FileName), temp = path + ".tmp";
        using (var stream = File.Create(temp))
            JsonSerializer.Serialize(stream, this, CanonicalJson.Options); // compact: read back on every rerun
        File.AppendAllText(temp, "\n");
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The listing Download recorded in <paramref name="folder"/>, or null.</summary>
    public static FolderListing? Read(string folder)
    {
        string path = System.IO.Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        using var stream = File.OpenRead(path); // streamed: a listing of 100,000 files is 20 MB of text
        return JsonSerializer.Deserialize<FolderListing>(stream, CanonicalJson.Options);
    }

    /// <summary>False for hidden files and folders and for macOS's __MACOSX folders, which are no part of a dataset.</summary>
    public static bool Visible(string? name) => name is { Length: > 0 } && !name.StartsWith('.') && name != "__MACOSX";

    /// <summary>The folder the files are in, given Download's folder.</summary>
    public string RootIn(string downloads) => System.IO.Path.GetFullPath(Root, downloads);

    // The last listing of each folder made by this process: the fingerprint and Download's run list the same folder
    // one after the other, and hashing 100,000 files twice would double the first run's wait.
    static readonly ConcurrentDictionary<string, FolderListing> LastScans = new(StringComparer.Ordinal);

    /// <summary>
    /// Lists <paramref name="root"/>: a file whose size and modification time are those of this process's last listing
    /// (or else of <paramref name="previous"/>, the recorded one) keeps its hash; any other is hashed (in parallel). So a rerun with
    /// nothing changed reads no file, and a changed file is noticed even if its size stayed.
    /// </summary>
    public static FolderListing Scan(string root, string recordedRoot, Func<FolderListing?> previous, string source)
    {
        if (!Directory.Exists(root))
            throw new DatasetException($"{source}: {root}: no such folder");
        root = System.IO.Path.TrimEndingDirectorySeparator(root);
        var known = new Dictionary<string, FolderFile>(StringComparer.Ordinal);
        // This process's last listing is as new as the recorded one, and spares reading files.json.
        foreach (var file in (LastScans.GetValueOrDefault(root) ?? previous())?.Files ?? [])
            known[file.Path] = file;

        // Path, size and time straight from the directory entries: no FileInfo per file.
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        var found = new System.IO.Enumeration.FileSystemEnumerable<(string Path, long Size, long Modified)>(root,
                (ref System.IO.Enumeration.FileSystemEntry entry) =>
                    (System.IO.Path.Join(entry.Directory[root.Length..].TrimStart(System.IO.Path.DirectorySeparatorChar), entry.FileName).Replace(System.IO.Path.DirectorySeparatorChar, '/'),
                     entry.Length, entry.LastWriteTimeUtc.UtcTicks), options)
            { ShouldIncludePredicate = (ref System.IO.Enumeration.FileSystemEntry entry) => !entry.IsDirectory }
            .Where(f => f.Path.Split('/').All(Visible))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        var files = new FolderFile[found.Count];
        Parallel.For(0, found.Count, i =>
        {
            var (path, size, modified) = found[i];
            files[i] = known.TryGetValue(path, out var was) && was.Size == size && was.Modified == modified
                ? was
                : new FolderFile(modified, path, Stages.ContentHash.OfFile(System.IO.Path.Combine(root, path)), size);
        });
        var scanned = new FolderListing(files, recordedRoot);
        LastScans[root] = scanned;
        return scanned;
    }
}

/// <summary>
/// How a folder dataset's files make classes and splits. Either the top level holds <c>train/</c> and <c>test/</c>
/// (and optionally <c>validation/</c>), each with one folder per class, or it holds the class folders and the splits are
/// drawn from each file's path hash. Class names are the class folders' names, sorted (ordinal), unless the definition
/// lists them; a file outside a class folder, an empty class folder and a class missing from a split are mistakes.
/// </summary>
public sealed record FolderLayout(string SplitBy, IReadOnlyList<string> Classes)
{
    public static FolderLayout Resolve(DatasetDefinition definition, string root, FolderListing listing, string source)
    {
        string splitBy = definition.SplitBy switch
        {
            "folders" or "hash" => definition.SplitBy,
            _ => Directory.Exists(System.IO.Path.Combine(root, "train")) && Directory.Exists(System.IO.Path.Combine(root, "test")) ? "folders" : "hash",
        };
        bool bySplitFolders = splitBy == "folders";
        var problems = new List<string>();
        // Class folders by split ("" when the splits are hashed), each with its file count.
        var folders = new SortedDictionary<string, SortedDictionary<string, int>>(StringComparer.Ordinal);
        if (bySplitFolders)
        {
            foreach (var dir in Directory.EnumerateDirectories(root).Select(System.IO.Path.GetFileName).Where(FolderListing.Visible).Order(StringComparer.Ordinal))
                if (!VerifiedDataset.SplitOrder.Contains(dir))
                    problems.Add($"{dir}/: not a split folder (the top level holds train/, test/ and optionally validation/)");
            foreach (var split in VerifiedDataset.SplitOrder)
                if (Directory.Exists(System.IO.Path.Combine(root, split)))
                    folders[split] = ClassFolders(System.IO.Path.Combine(root, split));
                else if (split != "validation")
                    problems.Add($"{split}/: missing (split_by \"folders\" needs train/ and test/)");
        }
        else
            folders[""] = ClassFolders(root);

        foreach (var file in listing.Files)
        {
            int depth = file.Path.Count(c => c == '/');
            if (depth < (bySplitFolders ? 2 : 1))
                problems.Add($"{file.Path}: not in a class folder");
        }
        foreach (var (split, classes) in folders)
        {
            var prefix = split.Length == 0 ? "" : split + "/";
            foreach (var file in listing.Files)
                if (file.Path.StartsWith(prefix, StringComparison.Ordinal) && file.Path.IndexOf('/', prefix.Length) is > 0 and var slash
                    && classes.ContainsKey(file.Path[prefix.Length..slash]))
                    classes[file.Path[prefix.Length..slash]]++;
            foreach (var (name, count) in classes)
                if (count == 0) problems.Add($"{prefix}{name}/: empty class folder");
        }

        var names = folders.Values.SelectMany(c => c.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var classNames = definition.Classes ?? names;
        foreach (var name in names.Except(classNames))
            problems.Add($"{name}/: a class folder, but not one of the classes the definition lists");
        foreach (var (split, classes) in folders.Where(f => f.Key != "validation"))
            foreach (var name in classNames.Except(classes.Keys))
                problems.Add($"{(split.Length == 0 ? "" : split + "/")}{name}/: missing (class '{name}' needs a folder{(split.Length == 0 ? "" : $" in {split}/")})");
        if (problems.Count == 0 && classNames.Count < 2)
            problems.Add($"{classNames.Count} class folder{(classNames.Count == 1 ? "" : "s")}: a classifier needs at least two classes");
        if (problems.Count > 0)
            throw new DatasetException($"{source}: {root}: {string.Join("; ", problems.Take(20))}{(problems.Count > 20 ? $"; and {problems.Count - 20} more" : "")}");
        ClassNames.Check(classNames, $"{source}: {root}");
        return new FolderLayout(splitBy, classNames);
    }

    static SortedDictionary<string, int> ClassFolders(string folder) =>
        new(Directory.EnumerateDirectories(folder).Select(System.IO.Path.GetFileName).Where(FolderListing.Visible).ToDictionary(n => n!, _ => 0), StringComparer.Ordinal);
}
