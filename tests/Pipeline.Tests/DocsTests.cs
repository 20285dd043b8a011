using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Pipeline.Tests;

/// <summary>
/// The README and docs/*.md as a reader meets them: fenced code blocks, links, headings. A block whose commands the
/// docs check must not run is preceded by <c>&lt;!-- docs-check: skip: REASON --&gt;</c> on the line before its fence.
/// </summary>
static partial class Docs
{
    /// <summary>README.md and every page under docs/, relative to the repository.</summary>
    public static IReadOnlyList<string> Pages { get; } =
        [Path.Combine(TestHost.Root, "README.md"), .. Directory.GetFiles(Path.Combine(TestHost.Root, "docs"), "*.md").Order(StringComparer.Ordinal)];

    public static string Name(string page) => Path.GetRelativePath(TestHost.Root, page);

    public sealed record Block(string Page, int Line, IReadOnlyList<string> Lines, string? Skip);

    /// <summary>The fenced code blocks of a page, each with the reason it is not to be run, if the page gives one.</summary>
    public static IEnumerable<Block> Blocks(string page)
    {
        var lines = File.ReadAllLines(page);
        for (int i = 0; i < lines.Length; i++)
        {
            if (!Fence(lines[i])) continue;
            string? skip = null;
            for (int back = i - 1; back >= 0 && back >= i - 2; back--)
                if (SkipMarker().Match(lines[back]) is { Success: true } m) skip = m.Groups[1].Value.Trim();
            int start = i;
            var body = new List<string>();
            while (++i < lines.Length && !Fence(lines[i])) body.Add(lines[i]);
            yield return new Block(page, start + 1, body, skip);
        }
    }

    /// <summary>A page's text outside code blocks, with inline code spans blanked out.</summary>
    public static IEnumerable<(int Line, string Text)> Prose(string page)
    {
        bool inFence = false;
        int number = 0;
        foreach (var line in File.ReadAllLines(page))
        {
            number++;
            if (Fence(line)) { inFence = !inFence; continue; }
            if (!inFence) yield return (number, InlineCode().Replace(line, "``"));
        }
    }

    static bool Fence(string line) => line.TrimStart().StartsWith("```", StringComparison.Ordinal);

    /// <summary>GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to '-', repeats numbered.</summary>
    public static HashSet<string> Anchors(string page)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, text) in Prose(page))
        {
            var heading = Heading().Match(text);
            if (!heading.Success) continue;
            var slug = new StringBuilder();
            foreach (char c in heading.Groups[1].Value.Trim().ToLowerInvariant())
                if (char.IsLetterOrDigit(c) || c is '-' or '_') slug.Append(c);
                else if (c == ' ') slug.Append('-');
            string anchor = slug.ToString();
            int count = seen.GetValueOrDefault(anchor);
            seen[anchor] = count + 1;
            anchors.Add(count == 0 ? anchor : $"{anchor}-{count}");
        }
        return anchors;
    }

    [GeneratedRegex(@"<!--\s*docs-check:\s*skip:(.*?)-->")]
    private static partial Regex SkipMarker();

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"^#{1,6}\s+(.*?)\s*#*$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"!?\[[^\]]*\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")]
    public static partial Regex Link();

    /// <summary>
    /// The <c>./build.sh</c> commands of the fenced blocks (a line starting with <c>./build.sh</c> or
    /// <c>$ ./build.sh</c>, with its <c>\</c> continuation lines), cut at a comment, <c>&amp;&amp;</c>, a pipe or a
    /// redirection, and split into arguments as the shell would.
    /// </summary>
    public static IEnumerable<(Block Block, string Text, IReadOnlyList<string> Args)> Commands() =>
        from page in Pages
        from block in Blocks(page)
        from command in Commands(block)
        select (block, command.Text, command.Args);

    static IEnumerable<(string Text, IReadOnlyList<string> Args)> Commands(Block block)
    {
        for (int i = 0; i < block.Lines.Count; i++)
        {
            string line = block.Lines[i];
            string text = line.StartsWith("$ ./build.sh", StringComparison.Ordinal) ? line[2..] : line;
            if (!text.StartsWith("./build.sh", StringComparison.Ordinal) || text.Length > 10 && text[10] != ' ') continue;
            while (text.TrimEnd().EndsWith('\\') && i + 1 < block.Lines.Count)
                text = text.TrimEnd()[..^1] + " " + block.Lines[++i].Trim();
            var words = Words(text);
            yield return (string.Join(" ", words), words.Skip(1).ToList());
        }
    }

    /// <summary>A command line's words as the shell gives them (quotes removed), up to a comment or an operator.</summary>
    static List<string> Words(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c is '\'' or '"')
            {
                int end = text.IndexOf(c, i + 1);
                if (end < 0) throw new FormatException($"unbalanced quote in: {text}");
                word.Append(text, i + 1, end - i - 1);
                inWord = true;
                i = end;
            }
            else if (char.IsWhiteSpace(c) || c is '#' && !inWord || c is '&' or '|' or ';' or '>' or '<' && !inWord)
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
                if (!char.IsWhiteSpace(c)) break;
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }
}

/// <summary>Every relative link and image in README.md and docs/*.md resolves, and the README stays a door.</summary>
[Trait("Category", "Unit")]
public class DocsLinkTests
{
    [Fact]
    public void The_README_is_at_most_300_lines()
    {
        int lines = File.ReadAllLines(Path.Combine(TestHost.Root, "README.md")).Length;
        Assert.True(lines <= 300, $"README.md has {lines} lines; the rest belongs in docs/");
    }

    [Fact]
    public void Every_relative_link_and_image_resolves_to_a_file_and_every_anchor_to_a_heading()
    {
        var broken = new List<string>();
        int checkedLinks = 0;
        foreach (var page in Docs.Pages)
            foreach (var (line, text) in Docs.Prose(page))
                foreach (Match link in Docs.Link().Matches(text))
                {
                    string target = link.Groups[1].Value;
                    if (Regex.IsMatch(target, "^[a-z]+:", RegexOptions.IgnoreCase)) continue; // https:, mailto:
                    checkedLinks++;
                    int hash = target.IndexOf('#');
                    string path = hash < 0 ? target : target[..hash];
                    string? anchor = hash < 0 ? null : target[(hash + 1)..];
                    string file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path)));
                    string where = $"{Docs.Name(page)}:{line}: {target}";
                    if (!File.Exists(file) && !Directory.Exists(file))
                        broken.Add($"{where}: no such file");
                    else if (anchor is not null && (!file.EndsWith(".md", StringComparison.Ordinal) || !Docs.Anchors(file).Contains(anchor)))
                        broken.Add($"{where}: no heading with that anchor in {Docs.Name(file)}");
                }
        Assert.True(checkedLinks > 30, $"only {checkedLinks} links found: is the link pattern still right?");
        Assert.True(broken.Count == 0, string.Join("\n", broken));
    }

    [Fact]
    public void Every_script_a_fenced_command_names_exists()
    {
        var missing = new List<string>();
        foreach (var page in Docs.Pages)
            foreach (var block in Docs.Blocks(page))
                foreach (var line in block.Lines)
                    foreach (Match script in Regex.Matches(line, @"(?<![\w/.-])((?:bench|build|tests|\.ci)/[\w./-]+\.(?:sh|py)|\.ci/run)\b"))
                        if (!File.Exists(Path.Combine(TestHost.Root, script.Groups[1].Value)))
                            missing.Add($"{Docs.Name(page)}:{block.Line}: {script.Groups[1].Value}");
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Fact]
    public void The_docs_have_build_sh_commands_to_check()
    {
        var commands = Docs.Commands().ToList();
        Assert.True(commands.Count >= 20, $"{commands.Count} commands found");
        Assert.Contains(commands, c => c.Text == "./build.sh --mirror=../shared/datasets/mnist --mirror=../shared/models");
    }
}

/// <summary>
/// Every <c>./build.sh</c> command of the README and docs/ runs through the real host with <c>--dryrun</c> and a fresh
/// artifacts folder, from a working folder laid out like a checkout (the repository's files, <c>../shared</c> and the
/// files the examples name), and exits 0.
/// </summary>
[Trait("Category", "Integration")]
public class DocsCommandTests(ITestOutputHelper output) : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>Words that stand for something the reader fills in: such a command cannot run as written.</summary>
    static readonly string[] Placeholders = ["…", "URL", "FILE", "PATH", "HOST", "<", ">"];

    /// <summary>Targets that read what full runs recorded, so a dry run proves nothing: run elsewhere, or not at all.</summary>
    static readonly Dictionary<string, string> NotRunHere = new()
    {
        ["Compare"] = "needs two recorded experiments, i.e. two full training runs: too slow for the docs check",
    };

    /// <summary>The files the examples name as inputs (their content does not matter to a dry run).</summary>
    static readonly string[] Inputs =
    [
        "photos/digit.png", "a.png", "scans/2024/page-1.jpg", "artifacts/train/model.onnx", "artifacts/export/test/7/00000.png",
        "../clothes/Bag/0001.jpg", "../clothes/Coat/0001.png", "../font-digits/7/0007-dejavu-sans-dark.png",
    ];

    /// <summary>A checkout's layout: the repository's entries linked, <c>../shared</c> linked, the examples' inputs.</summary>
    string Checkout()
    {
        string repo = temp["work/repo"];
        Directory.CreateDirectory(repo);
        foreach (var entry in Directory.EnumerateFileSystemEntries(TestHost.Root))
        {
            string name = Path.GetFileName(entry);
            if (name is ".git" or "artifacts") continue;
            if (Directory.Exists(entry)) Directory.CreateSymbolicLink(Path.Combine(repo, name), entry);
            else File.CreateSymbolicLink(Path.Combine(repo, name), entry);
        }
        Directory.CreateSymbolicLink(temp["work/shared"], Path.GetFullPath(Path.Combine(TestHost.Root, "..", "shared")));
        foreach (var input in Inputs)
        {
            string path = Path.GetFullPath(Path.Combine(repo, input));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, input);
        }
        File.WriteAllText(temp["work/clothes.json"], """{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 32 }""");
        return repo;
    }

    [Fact]
    public async Task Every_build_sh_command_in_the_docs_runs_through_the_host_as_a_dry_run()
    {
        string repo = Checkout();
        var skipped = new List<string>();
        var failures = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int ran = 0;
        foreach (var (block, text, args) in Docs.Commands())
        {
            string where = $"{Docs.Name(block.Page)}:{block.Line}";
            if (!seen.Add(string.Join('\0', args))) continue;
            string? target = args.Select(a => Regex.Match(a, "^--target=(.+)$")).FirstOrDefault(m => m.Success)?.Groups[1].Value;
            string? why = block.Skip
                ?? (Placeholders.FirstOrDefault(p => args.Any(a => a.Contains(p, StringComparison.Ordinal))) is { } p ? $"placeholder '{p}'" : null)
                ?? (target is not null && NotRunHere.TryGetValue(target, out var reason) ? reason : null);
            if (why is not null)
            {
                skipped.Add($"{where}: {text}: {why}");
                continue;
            }

            string artifacts = temp[$"artifacts-{++ran}"];
            if (target == "Show")
            {
                // Show prints an image Verify wrote: a real Verify first (seconds), then the command itself.
                var verify = await HostTests.HostIn(repo, new Dictionary<string, string>(), $"--artifacts={artifacts}", $"--mirror={TestHost.MnistMirror}", "--target=Verify");
                Assert.True(verify.ExitCode == 0, verify.Output + verify.Error);
            }
            string[] run = [.. args, .. args.Contains("--dryrun") ? Array.Empty<string>() : ["--dryrun"], $"--artifacts={artifacts}"];
            var result = await HostTests.HostIn(repo, new Dictionary<string, string>(), run);
            if (result.ExitCode != 0)
                failures.Add($"{where}: {text}\n  exit {result.ExitCode}\n{result.Error}{string.Join('\n', result.Output.Split('\n').TakeLast(15))}");
        }
        output.WriteLine($"docs check: {ran} commands run as dry runs, {skipped.Count} not run:\n  {string.Join("\n  ", skipped)}");
        Assert.True(ran >= 20, $"only {ran} commands ran");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }
}
