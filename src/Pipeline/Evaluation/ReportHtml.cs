using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Evaluation;

/// <summary>
/// <c>report.html</c>: the Markdown report as one HTML page, for a browser or a CI artifact; the Markdown stays for
/// diffs in pull requests. It converts the subset <see cref="EvaluationReport"/> writes (headings, paragraphs, tables,
/// images, fenced code, bold and inline code); every piece of text is HTML-escaped.
/// </summary>
public static partial class ReportHtml
{
    public static string FromMarkdown(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        string title = lines.FirstOrDefault(l => l.StartsWith("# ", StringComparison.Ordinal))?[2..] ?? "Evaluation";
        var body = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                body.Append("<pre><code>");
                while (++i < lines.Length && !lines[i].StartsWith("```", StringComparison.Ordinal))
                    body.Append(WebUtility.HtmlEncode(lines[i])).Append('\n');
                body.AppendLine("</code></pre>");
            }
            else if (line.StartsWith('#'))
            {
                int level = line.TakeWhile(c => c == '#').Count();
                body.AppendLine($"<h{level}>{Inline(line[level..].Trim())}</h{level}>");
            }
            else if (line.StartsWith('|'))
            {
                var rows = new List<string[]>();
                for (; i < lines.Length && lines[i].StartsWith('|'); i++) rows.Add(Cells(lines[i]));
                i--;
                body.AppendLine("<table>");
                body.AppendLine("<thead><tr>" + string.Concat(rows[0].Select(c => $"<th>{Inline(c)}</th>")) + "</tr></thead><tbody>");
                foreach (var row in rows.Skip(rows.Count > 1 && rows[1].All(c => c.Trim('-', ':').Length == 0) ? 2 : 1))
                    body.AppendLine("<tr>" + string.Concat(row.Select(c => $"<td>{Inline(c)}</td>")) + "</tr>");
                body.AppendLine("</tbody></table>");
            }
            else if (line.Trim().Length > 0)
            {
                var paragraph = new List<string> { line };
                while (i + 1 < lines.Length && lines[i + 1].Trim().Length > 0 && !"#|`".Contains(lines[i + 1][0])) paragraph.Add(lines[++i]);
                body.AppendLine($"<p>{Inline(string.Join(" ", paragraph))}</p>");
            }
        }
        return $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{WebUtility.HtmlEncode(title)}}</title>
            <style>
            body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
            table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
            th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
            th { background: #f3f3f3; }
            pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }
            img { max-width: 100%; }
            </style></head>
            <body>
            {{body}}</body></html>

            """;
    }

    static string[] Cells(string row) => [.. row.Trim().Trim('|').Split('|').Select(c => c.Trim())];

    /// <summary>One line's text, escaped, with images, bold and inline code.</summary>
    static string Inline(string text)
    {
        string html = WebUtility.HtmlEncode(text);
        html = Image().Replace(html, m => $"<img alt=\"{m.Groups[1].Value}\" src=\"{m.Groups[2].Value}\">");
        html = Bold().Replace(html, "<strong>$1</strong>");
        return Code().Replace(html, "<code>$1</code>");
    }

    [GeneratedRegex(@"!\[([^\]]*)\]\(([^)\s]+)\)")]
    private static partial Regex Image();

    [GeneratedRegex(@"\*\*(.+?)\*\*")]
    private static partial Regex Bold();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex Code();
}
