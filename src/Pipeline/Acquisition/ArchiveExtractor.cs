using System.Formats.Tar;
using System.IO.Compression;

namespace Pipeline.Acquisition;

/// <summary>
/// Extracts a verified .zip or .tar.gz (.tgz) into a folder. Only plain files and folders are taken: an entry whose
/// path would land outside the folder (absolute, or climbing with "..") and a link (whose target could point outside)
/// are refused, naming the archive and the entry.
/// </summary>
public static class ArchiveExtractor
{
    /// <summary>Extracts <paramref name="archive"/> into <paramref name="destination"/>; returns the number of files.</summary>
    public static int Extract(string archive, string destination, CancellationToken cancellation = default)
    {
        string name = Path.GetFileName(archive);
        Directory.CreateDirectory(destination);
        string root = Path.GetFullPath(destination);
        try
        {
            return name.EndsWith(".zip", StringComparison.OrdinalIgnoreCase)
                ? ExtractZip(archive, name, root, cancellation)
                : ExtractTarGz(archive, name, root, cancellation);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetException($"{name}: corrupt archive ({e.Message})");
        }
    }

    static int ExtractZip(string archive, string name, string root, CancellationToken cancellation)
    {
        int files = 0;
        using var zip = ZipFile.OpenRead(archive);
        foreach (var entry in zip.Entries)
        {
            cancellation.ThrowIfCancellationRequested();
            string target = Target(name, root, entry.FullName);
            if (entry.FullName.EndsWith('/') || entry.FullName.EndsWith('\\'))
            {
                Directory.CreateDirectory(target);
                continue;
            }
            // Unix mode bits in the upper half: a symbolic link is stored as a file holding its target.
            if (((entry.ExternalAttributes >> 16) & 0xF000) == 0xA000)
                throw new DatasetException($"{name}: entry '{entry.FullName}' is a symbolic link; only files and folders are extracted");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            entry.ExtractToFile(target, overwrite: false);
            files++;
        }
        return files;
    }

    static int ExtractTarGz(string archive, string name, string root, CancellationToken cancellation)
    {
        int files = 0;
        using var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            cancellation.ThrowIfCancellationRequested();
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(Target(name, root, entry.Name));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    string target = Target(name, root, entry.Name);
                    if (File.Exists(target))
                        throw new DatasetException($"{name}: entry '{entry.Name}' appears twice");
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    entry.ExtractToFile(target, overwrite: false);
                    files++;
                    break;
                case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes:
                    break; // metadata for the entries, not an entry
                default:
                    throw new DatasetException($"{name}: entry '{entry.Name}' is a {entry.EntryType}; only files and folders are extracted");
            }
        }
        return files;
    }

    /// <summary>Where an entry goes; refused when that is not inside <paramref name="root"/>.</summary>
    static string Target(string name, string root, string entry)
    {
        string target = Path.GetFullPath(Path.Combine(root, entry));
        if (Path.IsPathRooted(entry) || (target != root && !target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)))
            throw new DatasetException($"{name}: entry '{entry}' would be written outside the folder it is extracted into");
        return target;
    }
}
