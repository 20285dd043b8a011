using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Search;

/// <summary>How a dimension is drawn: uniform, log-uniform, a whole number, or one of listed values.</summary>
public enum DimensionKind { Float, Log, Int, Choice }

/// <summary>
/// One searched parameter: <c>float(lo,hi)</c>, <c>log(lo,hi)</c>, <c>int(lo,hi)</c> or <c>choice(a,b,c)</c> over a
/// <c>section.key</c>. A point holds each dimension's value as a number: the value itself, or a choice's index.
/// </summary>
public sealed record Dimension(string Key, DimensionKind Kind, double Low, double High, IReadOnlyList<JsonNode?> Choices)
{
    /// <summary>Parses <c>section.key=kind(args)</c>; every mistake names the entry.</summary>
    public static Dimension Parse(string entry)
    {
        int eq = entry.IndexOf('=');
        if (eq <= 0)
            throw new SearchException($"--space {entry}: expected section.key=kind(…), e.g. train.learning_rate=log(1e-4,1e-2)");
        return Parse(entry[..eq].Trim(), entry[(eq + 1)..].Trim());
    }

    public static Dimension Parse(string key, string text)
    {
        string at = $"--space {key}={text}";
        if (key.Split('.') is not { Length: 2 } parts || parts.Any(string.IsNullOrWhiteSpace))
            throw new SearchException($"{at}: the key must be section.key (e.g. train.learning_rate)");
        int open = text.IndexOf('(');
        if (open <= 0 || !text.EndsWith(')'))
            throw new SearchException($"{at}: expected float(lo,hi), log(lo,hi), int(lo,hi) or choice(a,b,…)");
        string kindText = text[..open].Trim().ToLowerInvariant();
        var args = SplitTopLevel(text[(open + 1)..^1]);
        if (args.Count == 0)
            throw new SearchException($"{at}: an empty range");
        if (kindText == "choice")
        {
            var choices = args.Select(a => { try { return JsonNode.Parse(a); } catch (JsonException) { return JsonValue.Create(a); } }).ToList();
            if (choices.Select(c => c?.ToJsonString()).Distinct().Count() != choices.Count)
                throw new SearchException($"{at}: a value is listed twice");
            return new Dimension(key, DimensionKind.Choice, 0, choices.Count - 1, choices);
        }
        var kind = kindText switch
        {
            "float" => DimensionKind.Float,
            "log" => DimensionKind.Log,
            "int" => DimensionKind.Int,
            _ => throw new SearchException($"{at}: unknown kind '{kindText}' (kinds: float, log, int, choice)"),
        };
        if (args.Count != 2)
            throw new SearchException($"{at}: {kindText} takes two bounds, lo and hi");
        double Bound(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw new SearchException($"{at}: '{s}' is not a number");
        double lo = Bound(args[0]), hi = Bound(args[1]);
        if (kind == DimensionKind.Int && (lo != Math.Floor(lo) || hi != Math.Floor(hi)))
            throw new SearchException($"{at}: int bounds must be whole numbers");
        if (lo >= hi)
            throw new SearchException($"{at}: lo must be below hi (an empty range)");
        if (kind == DimensionKind.Log && lo <= 0)
            throw new SearchException($"{at}: log needs bounds above 0");
        return new Dimension(key, kind, lo, hi, []);
    }

    /// <summary>The canonical text, e.g. <c>log(0.0001,0.01)</c>: what a study keeps to recognise its space.</summary>
    public string Text => Kind == DimensionKind.Choice
        ? $"choice({string.Join(",", Choices.Select(c => c?.ToJsonString() ?? "null"))})"
        : $"{Kind.ToString().ToLowerInvariant()}({Number(Low)},{Number(High)})";

    /// <summary>The parameter's value at <paramref name="x"/> (a choice's index picks the value).</summary>
    public JsonNode? Value(double x) => Kind switch
    {
        DimensionKind.Choice => Choices[(int)x]?.DeepClone(),
        DimensionKind.Int => JsonValue.Create((long)x),
        _ => JsonValue.Create(x),
    };

    /// <summary>The <c>--set</c> assignment for <paramref name="x"/>.</summary>
    public string Assignment(double x) => $"{Key}={Value(x)?.ToJsonString() ?? "null"}";

    /// <summary>Puts a number into the dimension: clipped, whole for int and choice, 4 significant digits for float and log.</summary>
    public double Snap(double x) => Kind is DimensionKind.Int or DimensionKind.Choice
        ? Math.Clamp(Math.Round(x), Low, High)
        : Math.Clamp(x == 0 ? 0 : Math.Round(x, Math.Clamp(3 - (int)Math.Floor(Math.Log10(Math.Abs(x))), 0, 15)), Low, High);

    static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Arguments split on top-level commas, so a JSON array or object stays one value.</summary>
    internal static List<string> SplitTopLevel(string text)
    {
        var values = new List<string>();
        int depth = 0, start = 0;
        bool quoted = false;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == ',' && depth == 0 && !quoted)
            {
                if (text[start..i].Trim() is { Length: > 0 } value) values.Add(value);
                start = i + 1;
            }
            else if (text[i] == '"') quoted = !quoted;
            else if (!quoted && text[i] is '[' or '{') depth++;
            else if (!quoted && text[i] is ']' or '}') depth--;
        }
        return values;
    }
}

/// <summary>The searched dimensions, in the order given; a key appears once.</summary>
public sealed class SearchSpace
{
    public IReadOnlyList<Dimension> Dimensions { get; }

    public SearchSpace(IReadOnlyList<Dimension> dimensions)
    {
        if (dimensions.Count == 0)
            throw new SearchException("the search space is empty: give --space section.key=kind(…) or --search-file");
        var twice = dimensions.GroupBy(d => d.Key).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            throw new SearchException($"--space {twice.Key} is given more than once");
        Dimensions = dimensions;
    }

    public static SearchSpace Parse(IEnumerable<string> entries) => new([.. entries.Select(Dimension.Parse)]);

    /// <summary>A search file's <c>space</c>: <c>{"train.learning_rate": "log(1e-4,1e-2)", …}</c>.</summary>
    public static SearchSpace FromJson(JsonObject space, string source) =>
        new([.. space.Select(p => p.Value is JsonValue v && v.TryGetValue(out string? text)
            ? Dimension.Parse(p.Key, text) : throw new SearchException($"{source}: space.{p.Key} must be text like \"log(1e-4,1e-2)\""))]);

    /// <summary>Each dimension's canonical text by key: two studies have the same space when these are equal.</summary>
    public SortedDictionary<string, string> Canonical() =>
        new(Dimensions.ToDictionary(d => d.Key, d => d.Text), StringComparer.Ordinal);

    /// <summary>Every value of the point snapped into its dimension (what a sampler proposes).</summary>
    public double[] Snap(double[] point) => [.. point.Select((x, i) => Dimensions[i].Snap(x))];

    public IReadOnlyList<string> Assignments(IReadOnlyList<double> point) => [.. Dimensions.Select((d, i) => d.Assignment(point[i]))];

    /// <summary>A point drawn uniformly (log-uniformly for log dimensions).</summary>
    public double[] Uniform(ref Rng rng)
    {
        var point = new double[Dimensions.Count];
        for (int i = 0; i < point.Length; i++)
        {
            var d = Dimensions[i];
            point[i] = d.Kind switch
            {
                DimensionKind.Log => Math.Exp(rng.Uniform(Math.Log(d.Low), Math.Log(d.High))),
                DimensionKind.Int or DimensionKind.Choice => Math.Min(d.High, Math.Floor(rng.Uniform(d.Low, d.High + 1))),
                _ => rng.Uniform(d.Low, d.High),
            };
        }
        return point;
    }
}

/// <summary>A bad search space, objective, pruner or study: the host reports it as a usage error (exit 2).</summary>
public sealed class SearchException(string message) : PipelineException(message);
