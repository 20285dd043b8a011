using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Pipeline.Stages;

namespace Pipeline.Parameters;

/// <summary>
/// The experiment's knobs: a JSON file with one section per stage (like DVC's params.yaml), plus
/// <c>section.key=value</c> overrides from the command line. Sections bind to typed records; every mistake
/// names the key and what it expects.
/// </summary>
public sealed class ParameterSet
{
    readonly JsonObject root;
    readonly Dictionary<string, string> addedBy = new(StringComparer.Ordinal); // section → the --set that added it

    public string Source { get; }

    ParameterSet(JsonObject root, string source)
    {
        this.root = root;
        Source = source;
    }

    public static ParameterSet Load(string path, IEnumerable<string> overrides)
    {
        if (!File.Exists(path))
            throw new ParameterException($"{path}: parameters file not found");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ParameterException($"{path}: not valid JSON ({e.Message})");
        }
        return Parse(node, Path.GetFileName(path), overrides);
    }

    public static ParameterSet Parse(JsonNode? node, string source, IEnumerable<string> overrides)
    {
        if (node is not JsonObject root)
            throw new ParameterException($"{source}: expected a JSON object with one section per stage");
        var set = new ParameterSet(root, source);
        foreach (var assignment in overrides)
            set.Override(assignment);
        return set;
    }

    /// <summary>Applies <c>section.key=value</c>. The value is read as JSON when it parses (10, true, [1,2]), else as text.</summary>
    void Override(string assignment)
    {
        int eq = assignment.IndexOf('=');
        string[] path = eq > 0 ? assignment[..eq].Trim().Split('.') : [];
        if (path.Length < 2 || path.Any(string.IsNullOrWhiteSpace))
            throw new ParameterException($"--set {assignment}: expected section.key=value (e.g. verify.validation=10000)");
        string text = assignment[(eq + 1)..];
        JsonNode? value;
        try { value = JsonNode.Parse(text); }
        catch (JsonException) { value = JsonValue.Create(text); }

        if (root[path[0]] is null)
        {
            // A section the file leaves out holds the defaults; BindAll names it if it is not a section at all.
            root[path[0]] = new JsonObject();
            addedBy[path[0]] = assignment;
        }
        if (root[path[0]] is not JsonObject section)
            throw new ParameterException($"--set {assignment}: '{path[0]}' in {Source} is not a section of key: value");
        for (int i = 1; i < path.Length - 1; i++)
        {
            if (section[path[i]] is not JsonObject child)
                throw new ParameterException($"--set {assignment}: '{string.Join('.', path[..(i + 1)])}' is not a group of parameters");
            section = child;
        }
        section[path[^1]] = value;
    }

    /// <summary>
    /// Sets <c>section.key</c> from an option of the host's own (e.g. <c>--images</c>), after the <c>--set</c>s; a
    /// section the file leaves out is added, since it holds the defaults anyway.
    /// </summary>
    public ParameterSet Set(string section, string key, JsonNode? value)
    {
        root[section] ??= new JsonObject();
        if (root[section] is JsonObject values) values[key] = value; // otherwise binding says what is wrong with the section
        return this;
    }

    public IEnumerable<string> Sections => root.Select(p => p.Key);

    /// <summary>
    /// Binds every section of <paramref name="sections"/> (name → record type, e.g. <see cref="ParameterSectionAttribute.In"/>),
    /// in their order. A section in the file that is not one of them is an error, so a typo never goes unnoticed.
    /// </summary>
    public IReadOnlyDictionary<string, object> BindAll(IReadOnlyDictionary<string, Type> sections)
    {
        foreach (var name in Sections)
            if (!sections.ContainsKey(name))
                throw new ParameterException($"{(addedBy.TryGetValue(name, out var set) ? $"--set {set}" : Source)}: unknown section '{name}' (sections: {string.Join(", ", sections.Keys)})");
        var bind = typeof(ParameterSet).GetMethod(nameof(Bind))!;
        return sections.ToDictionary(s => s.Key, s =>
        {
            try { return bind.MakeGenericMethod(s.Value).Invoke(this, [s.Key])!; }
            catch (TargetInvocationException e) when (e.InnerException is ParameterException inner) { throw inner; }
        });
    }

    /// <summary>Binds a section to <typeparamref name="T"/> (snake_case keys); missing keys (or a missing section) keep the record's defaults.</summary>
    public T Bind<T>(string section) where T : class
    {
        var node = root[section] ?? new JsonObject(); // a missing section keeps every default
        if (node is not JsonObject obj)
            throw new ParameterException($"{Source}: section '{section}' must be an object of key: value");

        var properties = Properties(typeof(T));
        foreach (var (key, value) in obj)
        {
            if (!properties.TryGetValue(key, out var property))
                throw new ParameterException($"{section}.{key} is not a parameter of '{section}' (known: {string.Join(", ", properties.Keys)})");
            if (OperationType(property.PropertyType) is { } operation)
                CheckOperations($"{section}.{key}", value, operation);
            CheckValue($"{section}.{key}", value, property.PropertyType);
        }

        var bound = obj.Deserialize<T>(Reading)
            ?? throw new ParameterException($"{Source}: section '{section}' is empty");
        if (bound is IValidatedParameters validated)
        {
            var problems = validated.Validate().ToList();
            if (problems.Count > 0)
                throw new ParameterException(string.Join("\n", problems.Select(p => $"{section}.{p}")));
        }
        return bound;
    }

    // The discriminator ("op") may come anywhere in an operation's object, not only first.
    static readonly JsonSerializerOptions Reading = new(CanonicalJson.Options) { AllowOutOfOrderMetadataProperties = true };

    static Dictionary<string, PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name), StringComparer.Ordinal);

    static void CheckValue(string name, JsonNode? value, Type type)
    {
        try
        {
            value.Deserialize(type, Reading);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            throw new ParameterException($"{name} expects {Describe(type)}, got {value?.ToJsonString() ?? "null"}");
        }
    }

    /// <summary>
    /// The element type of a list of operations: a list whose element type is [JsonPolymorphic], each kind a
    /// [JsonDerivedType] named in the discriminator ("op"), e.g. <c>[{"op": "rotate", "probability": 0.9}]</c>.
    /// </summary>
    static Type? OperationType(Type type)
    {
        var element = type.IsArray ? type.GetElementType()
            : type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? type.GetGenericArguments()[0] : null;
        return element?.GetCustomAttribute<JsonPolymorphicAttribute>() is not null ? element : null;
    }

    /// <summary>Each operation names a known kind, and only that kind's keys, with values of the right type.</summary>
    static void CheckOperations(string name, JsonNode? value, Type baseType)
    {
        string tag = baseType.GetCustomAttribute<JsonPolymorphicAttribute>()!.TypeDiscriminatorPropertyName ?? "$type";
        var kinds = baseType.GetCustomAttributes<JsonDerivedTypeAttribute>()
            .ToDictionary(a => (string)a.TypeDiscriminator!, a => a.DerivedType, StringComparer.Ordinal);
        string known = string.Join(", ", kinds.Keys);
        if (value is not JsonArray list)
            throw new ParameterException($"{name} expects a list of operations like {{\"{tag}\": \"{kinds.Keys.First()}\", …}}, got {value?.ToJsonString() ?? "null"}");
        for (int i = 0; i < list.Count; i++)
        {
            string at = $"{name}[{i}]";
            if (list[i] is not JsonObject item)
                throw new ParameterException($"{at} expects an operation like {{\"{tag}\": \"{kinds.Keys.First()}\", …}}, got {list[i]?.ToJsonString() ?? "null"}");
            if (item[tag] is not JsonValue tagValue || !tagValue.TryGetValue(out string? kind))
                throw new ParameterException($"{at}: \"{tag}\" must name the operation (operations: {known})");
            if (!kinds.TryGetValue(kind, out var type))
                throw new ParameterException($"{at}: unknown operation '{kind}' (operations: {known})");
            at = $"{at} ({kind})";
            var properties = Properties(type);
            foreach (var (key, setting) in item)
            {
                if (key == tag) continue;
                if (!properties.TryGetValue(key, out var property))
                    throw new ParameterException($"{at}: {key} is not a parameter of '{kind}' (known: {string.Join(", ", properties.Keys)})");
                CheckValue($"{at}: {key}", setting, property.PropertyType);
            }
            foreach (var (key, property) in properties)
                if (IsRequired(property) && !item.ContainsKey(key))
                    throw new ParameterException($"{at}: {key} is required");
        }
    }

    // By name: ScottPlot ships its own public copy of RequiredMemberAttribute, so the type is ambiguous here.
    static bool IsRequired(PropertyInfo property) =>
        property.GetCustomAttributes().Any(a => a.GetType().Name == "RequiredMemberAttribute");

    static string Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(long)) return "a whole number";
        if (type == typeof(double) || type == typeof(float)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "text";
        if (type.IsEnum) return $"one of {string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName))}";
        if (type.IsArray || type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>))
            return "a list";
        return $"a {type.Name}";
    }
}

/// <summary>
/// Marks a record as section <paramref name="name"/> of the parameters file. Declared beside the stage that reads it;
/// the host binds every section its stages' assemblies declare, so no central list names them.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ParameterSectionAttribute(string name) : Attribute
{
    public string Name { get; } = name;

    /// <summary>The sections <paramref name="assemblies"/> declare, by name in ordinal order; a name declared twice is an error.</summary>
    public static IReadOnlyDictionary<string, Type> In(IEnumerable<Assembly> assemblies)
    {
        var sections = new SortedDictionary<string, Type>(StringComparer.Ordinal);
        foreach (var type in assemblies.Distinct().SelectMany(a => a.GetTypes()))
            if (type.GetCustomAttribute<ParameterSectionAttribute>() is { } section && !sections.TryAdd(section.Name, type))
                throw new InvalidOperationException($"parameter section '{section.Name}' is declared by both {sections[section.Name].FullName} and {type.FullName}");
        return sections;
    }
}

/// <summary>Parameters that know their valid ranges. Each problem reads "key must …".</summary>
public interface IValidatedParameters
{
    IEnumerable<string> Validate();
}

public sealed class ParameterException(string message) : PipelineException(message);
