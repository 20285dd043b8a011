using System.Text.RegularExpressions;

namespace Pipeline.Acquisition;

/// <summary>
/// The one rule for class names. They become folder names (Export's and Augment's <c>&lt;class&gt;/</c>), so
/// anything that could escape the folder, trip a file system or collide with another class is refused.
/// </summary>
public static partial class ClassNames
{
    const string Rule = "letters, digits, space, '_', '-', '.'; not '.' or '..'; no space at either end";

    public static IEnumerable<string> Problems(IReadOnlyList<string>? classes)
    {
        if (classes is null || classes.Count == 0)
        {
            yield return "classes is empty";
            yield break;
        }
        if (classes.Count > 256)
            yield return $"{classes.Count} classes, but labels are single bytes (at most 256)";
        // Case-insensitive: "Bag" and "bag" would share a folder on Windows and macOS.
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int label = 0; label < classes.Count; label++)
        {
            string? name = classes[label];
            if (name is null || !SafeFolderName().IsMatch(name) || name is "." or ".." || name.Trim() != name)
                yield return $"class {Show(name)} (label {label}) is not safe as a folder name ({Rule})";
            else if (!seen.TryAdd(name, label))
                yield return $"class {Show(name)} (label {label}) repeats class {Show(classes[seen[name]])} (label {seen[name]})";
        }
    }

    /// <summary>Throws naming <paramref name="source"/> (the definition or dataset file) and every bad class.</summary>
    public static void Check(IReadOnlyList<string>? classes, string source)
    {
        var problems = Problems(classes).ToList();
        if (problems.Count > 0)
            throw new DatasetException($"{source}: {string.Join("; ", problems)}");
    }

    // Control characters shown escaped, so the message itself stays on one line and readable.
    static string Show(string? name) => name is null ? "null"
        : "'" + string.Concat(name.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) + "'";

    // \z, not $: $ also matches before a final newline.
    [GeneratedRegex(@"^[A-Za-z0-9 _.-]+\z")]
    private static partial Regex SafeFolderName();
}
