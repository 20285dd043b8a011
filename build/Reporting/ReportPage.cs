using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Pipeline;
using Pipeline.Stages;

namespace Build.Reporting;

/// <summary>
/// <c>artifacts/report/index.html</c>: one self-contained page. Its stylesheet, its script (<c>build/report/page.js</c>),
/// the libraries it uses (pinned in <c>build/report/package-lock.json</c>, fetched by <c>npm ci</c>) and the data of
/// every experiment are inlined; the runs' reports and images sit beside it under <c>runs/</c>. It opens from file://.
/// </summary>
public static partial class ReportPage
{
    public const string Folder = "report", FileName = "index.html";

    /// <summary>The libraries inlined into the page, as paths under <c>node_modules/</c>.</summary>
    static readonly string[] Scripts = ["uplot/dist/uPlot.iife.min.js"];
    static readonly string[] Styles = ["uplot/dist/uPlot.min.css"];

    /// <summary>Writes the page of the artifacts folder's experiments; returns its path.</summary>
    /// <param name="root">the repository root (holds build/report/)</param>
    public static string Write(string artifacts, string root, Serilog.ILogger log)
    {
        string assets = Path.Combine(root, "build", "report");
        string modules = InstallLibraries(assets, log);
        string folder = Path.Combine(artifacts, Folder);
        Directory.CreateDirectory(folder);
        var data = ReportData.Collect(artifacts, folder);
        string page = Path.Combine(folder, FileName);
        File.WriteAllText(page + ".partial", Render(assets, modules, data), new UTF8Encoding(false));
        File.Move(page + ".partial", page, overwrite: true);
        log.Information("report: {Runs} experiments{Damaged} → {Page}", ((JsonArray)data["runs"]!).Count,
            ((JsonArray)data["damaged"]!).Count is var d and > 0 ? $" and {d} damaged records" : "", page);
        return page;
    }

    static string Render(string assets, string modules, JsonObject data)
    {
        string Read(string path) => File.Exists(path) ? File.ReadAllText(path)
            : throw new ReportException($"{path} is missing: the report page is made from build/report/ and its node_modules");
        string Script(string path)
        {
            string text = Read(path);
            // Inlined into a <script> element: the text must not close it.
            return text.Contains("</script", StringComparison.OrdinalIgnoreCase)
                ? throw new ReportException($"{path} holds \"</script\" and cannot be inlined into the page") : text;
        }
        // The data's JSON escapes <, > and & (System.Text.Json's default encoder): a name holding </script> stays text.
        string json = data.ToJsonString(CanonicalJson.Options);
        var parts = new Dictionary<string, string>
        {
            ["STYLES"] = string.Concat(Styles.Select(s => Read(Path.Combine(modules, s)) + "\n")) + Read(Path.Combine(assets, "page.css")),
            ["LIBRARIES"] = string.Join("\n</script>\n<script>\n", Scripts.Select(s => Script(Path.Combine(modules, s)))),
            ["PAGE"] = Script(Path.Combine(assets, "page.js")),
            ["DATA"] = json,
        };
        // One pass over the template: what is put in is never searched again (a name may read "/*PAGE*/").
        return Marker().Replace(Read(Path.Combine(assets, "page.html")), m => parts[m.Groups[1].Value]);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"/\*(STYLES|LIBRARIES|PAGE|DATA)\*/")]
    private static partial System.Text.RegularExpressions.Regex Marker();

    /// <summary>
    /// The page's libraries as the lock file pins them: <c>npm ci</c> in build/report/ when node_modules is missing or
    /// older than the lock file. Returns the node_modules folder.
    /// </summary>
    static string InstallLibraries(string assets, Serilog.ILogger log)
    {
        string modules = Path.Combine(assets, "node_modules"), lockFile = Path.Combine(assets, "package-lock.json");
        string installed = Path.Combine(modules, ".package-lock.json");
        bool Current() => File.Exists(installed) && File.GetLastWriteTimeUtc(installed) >= File.GetLastWriteTimeUtc(lockFile);
        if (Current()) return modules;
        // Two hosts writing reports at once: one installs, the other waits for it (an flock, freed if the holder dies).
        using var turn = Pipeline.Stages.ArtifactsLock.Acquire(assets, TimeSpan.FromMinutes(5), m => log.Information("report: {Message:l}", m));
        if (Current()) return modules;
        log.Information("report: npm ci in {Folder} (the page's libraries, as {Lock} pins them)", assets, lockFile);
        var start = new ProcessStartInfo("npm") { WorkingDirectory = assets, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "ci", "--no-audit", "--no-fund" }) start.ArgumentList.Add(arg);
        Process npm;
        try { npm = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ReportException($"the report page needs npm to fetch its libraries ({lockFile}): install Node.js and npm (Debian: apt-get install npm)");
        }
        using (npm)
        {
            var output = npm.StandardOutput.ReadToEndAsync();
            string error = npm.StandardError.ReadToEnd();
            npm.WaitForExit();
            if (npm.ExitCode != 0)
                throw new ReportException($"npm ci in {assets} failed (exit {npm.ExitCode}): {(error + output.Result).Trim()}");
        }
        return modules;
    }
}

/// <summary>The report page cannot be made (its files or npm are missing); the task fails naming what.</summary>
public sealed class ReportException(string message) : PipelineException(message);
