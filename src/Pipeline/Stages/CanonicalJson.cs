using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// One JSON form for everything that is hashed or recorded: snake_case names, keys sorted, no white space.
/// The same parameters always give the same bytes, so they give the same fingerprint.
/// </summary>
public static class CanonicalJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = false,
    };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    public static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        JsonNode node => Sorted(node),
        _ => Sorted(JsonSerializer.SerializeToNode(value, value.GetType(), Options)),
    };

    public static string Serialize(object? value) => ToNode(value)?.ToJsonString(Options) ?? "null";

    static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Sorted).ToArray()),
        null => null,
        _ => JsonNode.Parse(node.ToJsonString()),
    };

    /// <summary>Leaf-by-leaf differences between two JSON trees, as "key: old → new" lines.</summary>
    public static IReadOnlyList<string> Diff(JsonNode? before, JsonNode? after)
    {
        var changes = new List<string>();
        Diff(before, after, "", changes);
        return changes;
    }

    static void Diff(JsonNode? a, JsonNode? b, string path, List<string> changes)
    {
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var key in oa.Select(p => p.Key).Union(ob.Select(p => p.Key)).Order(StringComparer.Ordinal))
            {
                string child = path.Length == 0 ? key : $"{path}.{key}";
                bool inA = oa.TryGetPropertyValue(key, out var va), inB = ob.TryGetPropertyValue(key, out var vb);
                if (!inA) changes.Add($"{child}: added ({Show(vb)})");
                else if (!inB) changes.Add($"{child}: removed (was {Show(va)})");
                else Diff(va, vb, child, changes);
            }
            return;
        }
        string sa = Show(a), sb = Show(b);
        if (sa != sb)
            changes.Add($"{(path.Length == 0 ? "value" : path)}: {sa} → {sb}");
    }

    static string Show(JsonNode? node) => node?.ToJsonString(Options) ?? "null";

    /// <summary>Writes indented JSON to a temporary file beside <paramref name="path"/>, then renames it over.</summary>
    public static void WriteFile(string path, object? value)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, (ToNode(value)?.ToJsonString(Indented) ?? "null") + "\n", new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }
}
