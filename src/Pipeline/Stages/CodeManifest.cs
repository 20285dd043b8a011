using System.Reflection;

namespace Pipeline.Stages;

/// <summary>
/// The hashes of the library's C# files, embedded at build time (<c>source-hashes.txt</c>, comments and white space
/// removed; see Directory.Build.targets). A stage's code fingerprint is the hashes of the files its code can reach.
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
    /// The files <paramref name="stage"/>'s compiled code can reach, with their hashes: derived at build time from the
    /// IL and PDBs (tools/CodeDeps) into <c>&lt;assembly&gt;.stage-code.txt</c> beside the stage's assembly.
    /// </summary>
    public SortedDictionary<string, string> Reached(Type stage)
    {
        var sets = StageCode.For(stage.Assembly);
        if (!sets.TryGetValue(stage.FullName!, out var reached))
            throw new StageException($"stage '{stage.FullName}': no derived code in {StageCode.PathOf(stage.Assembly)}; rebuild");
        var selected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in reached)
            selected[path] = files.TryGetValue(path, out var hash) ? hash
                : throw new StageException($"stage '{stage.FullName}' reaches {path}, which no library's source hashes list; rebuild");
        return selected;
    }
}

/// <summary>Reads <c>&lt;assembly&gt;.stage-code.txt</c>: for each stage type, the source files its code can reach.</summary>
static class StageCode
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<Assembly, IReadOnlyDictionary<string, List<string>>> cache = new();

    public static string PathOf(Assembly assembly) =>
        Path.Combine(Path.GetDirectoryName(assembly.Location) is { Length: > 0 } dir ? dir : AppContext.BaseDirectory,
            assembly.GetName().Name + ".stage-code.txt");

    public static IReadOnlyDictionary<string, List<string>> For(Assembly assembly) => cache.GetOrAdd(assembly, Read);

    /// <summary>The sets, after checking that every assembly they were derived from is the one loaded (its MVID).</summary>
    static IReadOnlyDictionary<string, List<string>> Read(Assembly assembly)
    {
        string path = PathOf(assembly);
        if (!File.Exists(path)) throw new StageException($"{path} is missing: the build derives it (tools/CodeDeps); rebuild");
        var sets = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var loaded = AppDomain.CurrentDomain.GetAssemblies().Append(assembly).ToList();
        List<string>? current = null;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith('#') || line.Length == 0) continue;
            if (line.StartsWith("assembly ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                var match = loaded.FirstOrDefault(a => a.GetName().Name == parts[1]) ?? Assembly.Load(parts[1]);
                if (match.ManifestModule.ModuleVersionId.ToString() != parts[2])
                    throw new StageException($"{path} was derived from another build of {parts[1]}; rebuild");
            }
            else if (line.StartsWith("stage ", StringComparison.Ordinal))
                sets[line[6..]] = current = [];
            else
                (current ?? throw new StageException($"{path}: a file before any stage")).Add(line);
        }
        return sets;
    }
}
