using System.Reflection;
using System.Text.RegularExpressions;

namespace Pipeline.Stages;

/// <summary>
/// The hashes of the library's C# files, embedded at build time (<c>source-hashes.txt</c>, comments and white space
/// removed; see Directory.Build.targets). A stage's code fingerprint is the hashes of the files its declaration names.
/// </summary>
public sealed class CodeManifest
{
    const string Resource = "source-hashes.txt";

    readonly SortedDictionary<string, string> files;

    CodeManifest(SortedDictionary<string, string> files) => this.files = files;

    /// <summary>Every C# file of the library assemblies: repository-relative path → hash.</summary>
    public IReadOnlyDictionary<string, string> Files => files;

    static readonly System.Collections.Concurrent.ConcurrentDictionary<Assembly, CodeManifest> cache = new();

    /// <summary>The manifest of this assembly and of the library assemblies it references.</summary>
    public static CodeManifest For(Assembly assembly) => cache.GetOrAdd(assembly, a => Of([a]));

    /// <summary>The manifest of every assembly that embeds one, starting from these and following references.</summary>
    public static CodeManifest Of(IEnumerable<Assembly> assemblies)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>();
        var pending = new Stack<Assembly>(assemblies);
        while (pending.TryPop(out var assembly))
        {
            if (!seen.Add(assembly.FullName!)) continue;
            using var stream = assembly.GetManifestResourceStream(Resource);
            if (stream is null) continue; // not a library project: its references may still be
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { Length: > 65 } line)
                files[line[65..]] = line[..64];
            foreach (var reference in assembly.GetReferencedAssemblies().Where(r => r.Name?.StartsWith("Pipeline", StringComparison.Ordinal) == true))
                pending.Push(Assembly.Load(reference));
        }
        return new CodeManifest(files);
    }

    /// <summary>
    /// The files matched by <paramref name="globs"/> (<c>*</c> within a folder, <c>**</c> across folders), with their
    /// hashes. A glob that matches nothing is a mistake in a declaration and throws.
    /// </summary>
    public SortedDictionary<string, string> Select(string owner, IEnumerable<string> globs)
    {
        var selected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var glob in globs)
        {
            var pattern = new Regex("^" + Regex.Escape(glob).Replace(@"\*\*", ".*").Replace(@"\*", "[^/]*") + "$");
            int before = selected.Count;
            foreach (var (path, hash) in files.Where(f => pattern.IsMatch(f.Key)))
                selected[path] = hash;
            if (selected.Count == before && !files.Keys.Any(pattern.IsMatch))
                throw new StageException($"stage '{owner}': its code '{glob}' matches no source file of the library");
        }
        return selected;
    }
}
