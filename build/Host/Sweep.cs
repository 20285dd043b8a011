using System.Text.Json.Nodes;

namespace Build.Host;

/// <summary><c>--sweep section.key=v1,v2</c> (repeatable): the grid is the product of the lists, one run per point.</summary>
public static class Sweep
{
    /// <summary>Each point as <c>--set</c> assignments; no sweeps gives one empty point (a single run).</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Points(IReadOnlyList<string> sweeps)
    {
        IReadOnlyList<IReadOnlyList<string>> points = [[]];
        foreach (var sweep in sweeps)
        {
            int eq = sweep.IndexOf('=');
            if (eq <= 0 || sweep[..eq].Split('.').Length < 2)
                throw new UsageException($"--sweep {sweep}: expected section.key=value1,value2,… (e.g. train.learning_rate=0.0005,0.001)");
            string key = sweep[..eq];
            var values = Values(sweep[(eq + 1)..]);
            if (values.Count == 0)
                throw new UsageException($"--sweep {sweep}: no values");
            points = [.. points.SelectMany(point => values.Select(v => (IReadOnlyList<string>)[.. point, $"{key}={v}"]))];
        }
        return points;
    }

    /// <summary>Values split on top-level commas, so a JSON array or object stays one value.</summary>
    static List<string> Values(string text)
    {
        var values = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == ',' && depth == 0)
            {
                if (i > start) values.Add(text[start..i].Trim());
                start = i + 1;
            }
            else if (text[i] is '[' or '{') depth++;
            else if (text[i] is ']' or '}') depth--;
        }
        return values;
    }
}
