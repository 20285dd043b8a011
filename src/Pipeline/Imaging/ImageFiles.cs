using System.Text.RegularExpressions;

namespace Pipeline.Imaging;

/// <summary>
/// The image files a list of paths names: each a file (taken whatever its name), a folder (searched recursively for
/// image files, <see cref="ImageLoader.Extensions"/>) or a glob (<c>*</c> and <c>?</c> within a name, <c>**</c> for
/// any depth of folders; a folder it matches is searched too). A path that names nothing is a mistake, said with it.
/// </summary>
public static class ImageFiles
{
    /// <summary>
    /// Absolute paths, in the order given; a folder's or a glob's files in ordinal order of their paths; a file named
    /// twice is listed once. Relative paths are relative to <paramref name="baseDirectory"/>.
    /// </summary>
    public static IReadOnlyList<string> Find(IEnumerable<string> paths, string baseDirectory)
    {
        var found = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var given in paths)
        {
            string path = Path.GetFullPath(given, baseDirectory);
            List<string> files;
            if (IsGlob(path))
            {
                files = [.. Glob(path).SelectMany(m => Directory.Exists(m) ? InFolder(m) : ImageLoader.IsImageFile(m) ? [m] : []).Distinct().Order(StringComparer.Ordinal)];
                if (files.Count == 0)
                    throw new ImageException($"{Named(path)}: matches no image file ({Endings})");
            }
            else if (File.Exists(path))
                files = [path];
            else if (Directory.Exists(path))
            {
                files = [.. InFolder(path).Order(StringComparer.Ordinal)];
                if (files.Count == 0)
                    throw new ImageException($"{Named(path)}: no image files in this folder or below it ({Endings})");
            }
            else
                throw new ImageException($"{Named(path)}: no such file or folder");
            found.AddRange(files.Where(seen.Add));
        }
        return found;
    }

    /// <summary>A path as messages name it: relative to the working directory when inside it, as a user would type it.</summary>
    public static string Named(string path) => Relative(path, Directory.GetCurrentDirectory());

    /// <summary><paramref name="path"/> relative to <paramref name="folder"/> when inside it, else as it is.</summary>
    public static string Relative(string path, string folder)
    {
        string relative = Path.GetRelativePath(folder, path);
        return relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar) || Path.IsPathRooted(relative) ? path : relative;
    }

    static string Endings => string.Join(", ", ImageLoader.Extensions);

    static bool IsGlob(string path) => path.AsSpan().IndexOfAny('*', '?') >= 0;

    static IEnumerable<string> InFolder(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(ImageLoader.IsImageFile);

    /// <summary>Files and folders matching an absolute glob, walked from its last folder without wildcards.</summary>
    static IEnumerable<string> Glob(string pattern)
    {
        var parts = pattern.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        int fixedParts = Array.FindIndex(parts, p => IsGlob(p) || p == "**");
        string start = string.Join(Path.DirectorySeparatorChar, parts[..fixedParts]);
        return Match(start.Length == 0 ? Path.GetPathRoot(pattern)! : start, parts[fixedParts..]);
    }

    static IEnumerable<string> Match(string path, string[] parts)
    {
        if (parts.Length == 0)
            return [path];
        if (!Directory.Exists(path))
            return [];
        string part = parts[0];
        if (part == "**")
            return Match(path, parts[1..]).Concat(Directory.EnumerateDirectories(path).SelectMany(d => Match(d, parts)));
        var name = new Regex("^" + Regex.Escape(part).Replace(@"\*", ".*").Replace(@"\?", ".") + "$");
        return Directory.EnumerateFileSystemEntries(path).Where(e => name.IsMatch(Path.GetFileName(e))).SelectMany(e => Match(e, parts[1..]));
    }
}
