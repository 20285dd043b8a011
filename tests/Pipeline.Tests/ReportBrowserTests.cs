using Build.Host;
using Microsoft.Playwright;
using Pipeline.Experiments;
using Xunit.Abstractions;

namespace Pipeline.Tests;

/// <summary>
/// A real artifacts folder for the report: a small folder dataset of Fashion-MNIST images through the whole pipeline
/// (named baseline), then a sweep of two learning rates; three experiments. Then ./build.sh --target=Report.
/// </summary>
public sealed class ReportRuns : IAsyncLifetime
{
    readonly TempFolder temp = new();

    public string Artifacts => temp["artifacts"];

    public string Page => Path.Combine(Artifacts, "report", "index.html");

    public IReadOnlyList<Experiment> Experiments { get; private set; } = [];

    internal ReportBrowser Browser { get; private set; } = null!;

    /// <summary>A folder dataset of <paramref name="perClass"/> images a class in <paramref name="folder"/>; returns its definition file.</summary>
    internal static string Dataset(string folder, int perClass)
    {
        FolderDatasetTests.Build(Path.Combine(folder, "clothes"), "--per-class", perClass.ToString(), "--formats", "png");
        string definition = Path.Combine(folder, "clothes.json");
        File.WriteAllText(definition, """{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 1, "image_size": 28 }""");
        return definition;
    }

    /// <summary>The pipeline's options for a run of a few seconds on the dataset.</summary>
    internal static string[] Small(string artifacts, string definition, int epochs = 3) =>
        [$"--artifacts={artifacts}", $"--set=download.dataset={definition}", "--set=augment.join_training=false", "--set=transfer.enabled=false",
         "--set=export.limit=10", $"--set=train.epochs={epochs}"];

    public async Task InitializeAsync()
    {
        string definition = Dataset(temp.Path, perClass: 60);
        var baseline = await HostTests.Host([.. Small(Artifacts, definition), "--experiment=baseline"]);
        Assert.True(baseline.ExitCode == 0, baseline.Output + baseline.Error);
        var sweep = await HostTests.Host([.. Small(Artifacts, definition), "--sweep=train.learning_rate=0.0003,0.003"]);
        Assert.True(sweep.ExitCode == 0, sweep.Output + sweep.Error);
        var report = await HostTests.Host($"--artifacts={Artifacts}", "--target=Report");
        Assert.True(report.ExitCode == 0, report.Output + report.Error);
        Experiments = new ExperimentLog(PipelineHost.ExperimentsFolder(Artifacts)).All();
        Browser = await ReportBrowser.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        temp.Dispose();
    }
}

/// <summary>build/Tasks/ReportTask.cs and build/report/page.js in Debian's chromium: the page of a real artifacts folder, from file://.</summary>
[Trait("Category", "Integration")]
public class ReportBrowserTests(ReportRuns runs) : IClassFixture<ReportRuns>
{
    async Task<(IPage Page, List<string> Errors)> Open(string view = "")
    {
        var (page, errors) = await runs.Browser.OpenAsync(ReportBrowser.FileUrl(runs.Page) + view);
        await page.WaitForSelectorAsync("main > *");
        return (page, errors);
    }

    static Task<string?> Cell(IPage page, int row, string column) =>
        page.Locator($"#experiments [data-row=\"{row}\"] [data-column=\"{column}\"]").TextContentAsync();

    [Fact]
    public async Task The_table_has_every_run_sorts_by_accuracy_filters_and_compares_two_runs()
    {
        Assert.Equal(3, runs.Experiments.Count);
        var (page, errors) = await Open();
        var rows = page.Locator("#experiments .row");
        Assert.Equal(3, await rows.CountAsync());
        var ids = await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.id)");
        Assert.Equal(runs.Experiments.Select(e => e.Id).Order(), ids.Order());
        await ReportBrowser.ScreenshotAsync(page, "report-table");

        // Best first: the highest test accuracy the records hold.
        await page.ClickAsync(".thead [data-column=\"m:accuracy\"]");
        var best = runs.Experiments.MaxBy(e => e.Metrics["accuracy"])!;
        Assert.Equal(best.Id, await Cell(page, 0, "id"));
        Assert.Equal(best.Metrics["accuracy"]!.Value.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture), await Cell(page, 0, "m:accuracy"));

        await page.FillAsync("#filter", "baseline");
        Assert.Equal(1, await rows.CountAsync());
        Assert.Equal("baseline", await Cell(page, 0, "name"));
        await page.FillAsync("#filter", "train.learning_rate=0.003");
        Assert.Equal(1, await rows.CountAsync());
        Assert.Equal("1 of 3 runs", await page.TextContentAsync("#row-count"));
        await page.FillAsync("#filter", "");
        Assert.Equal(3, await rows.CountAsync());

        // Two runs selected: their curves overlaid, two series a chart.
        await page.CheckAsync("#experiments [data-row=\"0\"] input[type=checkbox]");
        await page.CheckAsync("#experiments [data-row=\"1\"] input[type=checkbox]");
        await page.ClickAsync("#compare-selected");
        await page.WaitForSelectorAsync("#compare-curves [data-curve=\"val_accuracy\"] canvas");
        var series = page.Locator("#compare-curves [data-curve=\"val_accuracy\"] .u-legend .u-series");
        Assert.Equal(2, await series.CountAsync()); // the two runs (a legend that is not live lists no x series)
        Assert.Equal(2, await page.Locator("table.confusion").CountAsync());
        Assert.Contains("train.learning_rate", await page.TextContentAsync("#parameter-diff"));
        await ReportBrowser.ScreenshotAsync(page, "report-compare");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_run_page_shows_its_confusion_matrix_curves_and_stages()
    {
        var baseline = runs.Experiments.Single(e => e.Name == "baseline");
        var (page, errors) = await Open();
        await page.ClickAsync($"#experiments [data-id=\"{baseline.Id}\"] [data-column=\"name\"] a");
        await page.WaitForSelectorAsync("#run-confusion table.confusion");
        Assert.Contains(baseline.Id, await page.TextContentAsync("#run-title"));
        // Ten classes: a header row and ten rows of ten counts.
        Assert.Equal(100, await page.Locator("#run-confusion table.confusion td").CountAsync());
        Assert.Equal(5, await page.Locator("#run-curves .chart canvas").CountAsync()); // loss, accuracy, their validation, learning rate
        var stages = await page.TextContentAsync("#run-stages");
        Assert.Contains("train", stages);
        Assert.Contains("executed", stages);
        await page.WaitForSelectorAsync("img.gallery");
        Assert.True(await page.EvaluateAsync<bool>("() => document.querySelector('img.gallery').naturalWidth > 0"), "the gallery image did not load");
        await ReportBrowser.ScreenshotAsync(page, "report-run");

        // Evaluate's report.html, copied beside the page, opens from the run's page.
        await page.ClickAsync("#full-report");
        await page.WaitForSelectorAsync("h1");
        Assert.StartsWith("Evaluation:", await page.TextContentAsync("h1"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task The_parameter_view_draws_parallel_coordinates_and_a_scatter()
    {
        var (page, errors) = await Open("#plots");
        await page.WaitForSelectorAsync("#scatter canvas");
        // Some pixels of the parallel-coordinates canvas are drawn.
        Assert.True(await page.EvaluateAsync<int>("""
            () => { const c = document.getElementById('parallel'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }
            """) > 1000);
        await page.SelectOptionAsync("#scatter-y", "loss");
        await page.WaitForSelectorAsync("#scatter canvas");
        await page.SelectOptionAsync("#scatter-y", "accuracy");
        await ReportBrowser.ScreenshotAsync(page, "report-parameters");
        Assert.Empty(errors);
    }
}

/// <summary>The report of folders that are not as they should be: never a blank page, never a script error.</summary>
[Trait("Category", "Integration")]
public class ReportBadInputTests : IAsyncLifetime
{
    readonly TempFolder temp = new();
    ReportBrowser browser = null!;

    public async Task InitializeAsync() => browser = await ReportBrowser.StartAsync();

    public async Task DisposeAsync()
    {
        await browser.DisposeAsync();
        temp.Dispose();
    }

    /// <summary>./build.sh --target=Report on the folder, then its page in the browser.</summary>
    internal static async Task<(IPage Page, List<string> Errors)> Report(ReportBrowser browser, string artifacts)
    {
        var run = await HostTests.Host($"--artifacts={artifacts}", "--target=Report");
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        var opened = await browser.OpenAsync(ReportBrowser.FileUrl(Path.Combine(artifacts, "report", "index.html")));
        await opened.Page.WaitForSelectorAsync("main > *");
        return opened;
    }

    [Fact]
    public async Task An_artifacts_folder_without_experiments_gives_a_page_that_says_so()
    {
        var (page, errors) = await Report(browser, temp["empty"]);
        Assert.StartsWith("No experiments in ", await page.TextContentAsync("main .empty"));
        await page.GotoAsync(page.Url + "#plots");
        Assert.Equal("No experiments yet.", await page.TextContentAsync("main .empty"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Damaged_and_missing_records_are_listed_and_script_in_names_stays_text()
    {
        // A real run whose training history in the cache is damaged. (Class names cannot hold markup: Download accepts
        // only letters, digits, space, '_', '-' and '.'; names and parameters of records can, below.)
        string definition = ReportRuns.Dataset(temp.Path, perClass: 20);
        string artifacts = temp["artifacts"];
        var run = await HostTests.Host([.. ReportRuns.Small(artifacts, definition, epochs: 1)]);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        var log = new ExperimentLog(PipelineHost.ExperimentsFolder(artifacts));
        var real = Assert.Single(log.All());
        var train = Pipeline.Stages.StageRecord.TryRead(Path.Combine(artifacts, "train"))!;
        var history = Pipeline.Stages.OutputManifest.Read(Path.Combine(artifacts, "train"), train)!.Single(o => o.Path == "history.json");
        File.WriteAllText(Path.Combine(artifacts, ".cache", "objects", history.Sha256[..2], history.Sha256), "[{\"epoch\": 1, ");

        // A record cut short, and an experiment whose stages the cache never held, with script in its name and a parameter.
        File.WriteAllText(Path.Combine(log.Folder, "0badbad0.json"), "{\"id\": \"0badbad0\", \"name\": ");
        const string scriptName = "</script><script>window.pwned=2</script>";
        var missing = log.Record(new Experiment("feedface", scriptName, DateTimeOffset.UtcNow,
            new(StringComparer.Ordinal) { ["train.<img src=x onerror=window.pwned=3>"] = "<script>window.pwned=4</script>" },
            new(StringComparer.Ordinal) { ["accuracy"] = 0.5 },
            new(StringComparer.Ordinal) { ["train"] = new string('0', 64), ["evaluate"] = new string('1', 64) }));

        var (page, errors) = await Report(browser, artifacts);
        Assert.Equal(2, await page.Locator("#experiments .row").CountAsync());
        Assert.Contains("0badbad0.json", await page.TextContentAsync("#damaged"));
        var row = page.Locator($"#experiments .row[data-id=\"{missing.Id}\"]");
        Assert.Equal(scriptName, await row.Locator("[data-column=\"name\"]").TextContentAsync());
        Assert.Contains("no longer holds its evaluate run", await row.Locator("[data-column=\"problems\"]").TextContentAsync());
        const string damagedHistory = "its train history.json is missing from the run cache or fails its hash";
        Assert.Contains(damagedHistory, await page.Locator($"#experiments .row[data-id=\"{real.Id}\"] [data-column=\"problems\"]").TextContentAsync());
        Assert.Equal("train.<img src=x onerror=window.pwned=3>", await page.TextContentAsync(".thead [data-column=\"p:train.<img src=x onerror=window.pwned=3>\"]"));
        await ReportBrowser.ScreenshotAsync(page, "report-damaged");

        // The damaged run's page: what is missing is said; what is whole is shown.
        await page.ClickAsync($"#experiments .row[data-id=\"{real.Id}\"] [data-column=\"id\"] a");
        await page.WaitForSelectorAsync("#per-class");
        Assert.Contains("Bag", await page.TextContentAsync("#per-class"));
        Assert.Contains("Missing: " + damagedHistory, await page.TextContentAsync("main"));
        await page.ClickAsync("#nav a[href=\"#experiments\"]");
        await page.ClickAsync($"#experiments .row[data-id=\"{missing.Id}\"] [data-column=\"id\"] a");
        await page.WaitForSelectorAsync("#run-title");
        Assert.Contains("Missing: the run cache no longer holds its train run", await page.TextContentAsync("main"));
        Assert.StartsWith(scriptName + " (feedface)", await page.TextContentAsync("#run-title"));
        await page.GotoAsync(page.Url.Split('#')[0] + "#compare/" + real.Id + "," + missing.Id);
        await page.WaitForSelectorAsync("#parameter-diff");

        Assert.True(await page.EvaluateAsync<bool>("() => window.pwned === undefined"), "a name's script ran");
        Assert.Empty(errors);
    }
}

/// <summary>The page at 10,000 experiments, measured in the browser: first render ≤ 1.5 s, a sort ≤ 200 ms.</summary>
[Trait("Category", "Integration")]
public class ReportScaleTests(ITestOutputHelper output) : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    void Say(string line)
    {
        output.WriteLine(line);
        Console.WriteLine(line);
    }

    [Fact]
    public async Task Ten_thousand_runs_render_within_1_5_s_and_sort_within_200_ms()
    {
        const int count = 10_000;
        string artifacts = temp["artifacts"];
        var log = new ExperimentLog(PipelineHost.ExperimentsFolder(artifacts));
        var random = new Random(7);
        string[] models = ["reference", "compact", "strided"];
        for (int i = 0; i < count; i++)
        {
            double rate = Math.Round(Math.Pow(10, -4 + 2 * random.NextDouble()), 6), accuracy = Math.Round(0.9 + 0.099 * random.NextDouble(), 4);
            log.Record(new Experiment($"{i:x8}", i % 10 == 0 ? $"trial-{i}" : null, DateTimeOffset.UnixEpoch.AddMinutes(i),
                new(StringComparer.Ordinal)
                {
                    ["train.learning_rate"] = rate, ["train.batch_size"] = 64 << random.Next(4), ["train.model"] = models[random.Next(3)],
                    ["train.epochs"] = 1 + random.Next(10), ["train.seed"] = 1, ["verify.validation"] = 5000,
                },
                new(StringComparer.Ordinal) { ["accuracy"] = accuracy, ["loss"] = Math.Round(1.1 - accuracy, 4), ["macro_f1"] = accuracy - 0.001, ["train_seconds"] = Math.Round(10 + 200 * random.NextDouble(), 1) },
                new(StringComparer.Ordinal)));
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = await HostTests.Host($"--artifacts={artifacts}", "--target=Report");
        Assert.True(report.ExitCode == 0, report.Output + report.Error);
        long bytes = new FileInfo(Path.Combine(artifacts, "report", "index.html")).Length;
        Say($"report of {count:N0} experiments: ./build.sh --target=Report took {clock.Elapsed.TotalSeconds:0.0} s (the host process), index.html {bytes / 1e6:0.0} MB");

        await using var browser = await ReportBrowser.StartAsync();
        var (page, errors) = await browser.OpenAsync(ReportBrowser.FileUrl(Path.Combine(artifacts, "report", "index.html")));
        await page.WaitForFunctionAsync("() => window.reportTimings && window.reportTimings.firstRender != null");
        double firstRender = await page.EvaluateAsync<double>("() => window.reportTimings.firstRender");
        Assert.Equal($"{count} of {count} runs", await page.TextContentAsync("#row-count"));

        // A click on a header, until the next frame after the sorted rows are in the document.
        const string sort = """
            async column => {
              const started = performance.now();
              document.querySelector(`.thead [data-column="${column}"]`).click();
              await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
              return performance.now() - started;
            }
            """;
        var sorts = new List<(string Column, double Ms)>();
        foreach (var column in new[] { "m:accuracy", "m:accuracy", "p:train.learning_rate", "p:train.model", "name" })
            sorts.Add((column, await page.EvaluateAsync<double>(sort, column)));
        Assert.Equal("trial-9990", await page.TextContentAsync("#experiments [data-row=\"0\"] [data-column=\"name\"]")); // the last sort: by name, highest first
        Say($"{count:N0} runs in chromium {await page.EvaluateAsync<string>("() => navigator.userAgent.match(/Chrome\\/[\\d.]+/)[0]")}: " +
            $"first render {firstRender:0} ms after navigation start; sorts " + string.Join(", ", sorts.Select(s => $"{s.Column} {s.Ms:0} ms")));
        await ReportBrowser.ScreenshotAsync(page, "report-10000");
        Assert.True(firstRender <= 1500, $"first render took {firstRender:0} ms (bound 1,500 ms)");
        Assert.All(sorts, s => Assert.True(s.Ms <= 200, $"sorting by {s.Column} took {s.Ms:0} ms (bound 200 ms)"));
        Assert.Empty(errors);
    }
}

/// <summary>build/Reporting/ReportServer.cs: --serve on loopback, a running training's epochs on the page without a reload.</summary>
[Trait("Category", "Integration")]
public class ReportServeTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static int FreePort()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    [Fact]
    public async Task Serve_on_a_port_in_use_is_a_clear_error_with_exit_2()
    {
        var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        try
        {
            var run = await HostTests.Host($"--artifacts={temp["artifacts"]}", "--target=Report", "--serve", $"--port={port}");
            Assert.Equal(2, run.ExitCode);
            Assert.Contains($"--port={port}: cannot serve on 127.0.0.1:{port}", run.Output + run.Error);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public async Task A_running_training_s_epochs_appear_on_the_served_page_without_a_reload()
    {
        string definition = ReportRuns.Dataset(temp.Path, perClass: 300);
        string artifacts = temp["artifacts"];
        string[] small = ReportRuns.Small(artifacts, definition, epochs: 8);
        var verify = await HostTests.Host([.. small, "--target=Verify"]);
        Assert.True(verify.ExitCode == 0, verify.Output + verify.Error);

        int port = FreePort();
        var start = HostTests.HostStart($"--artifacts={artifacts}", "--target=Report", "--serve", $"--port={port}");
        using var server = TestHost.StartInterruptible(start);
        var served = new System.Text.StringBuilder();
        var listening = new TaskCompletionSource();
        server.OutputDataReceived += (_, line) => { lock (served) served.AppendLine(line.Data); if (line.Data?.Contains("serving http://127.0.0.1") == true) listening.TrySetResult(); };
        server.ErrorDataReceived += (_, line) => { lock (served) served.AppendLine(line.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await using var browser = await ReportBrowser.StartAsync();
            var (page, errors) = await browser.OpenAsync($"http://127.0.0.1:{port}/");
            await page.WaitForSelectorAsync("main > *");
            await page.EvaluateAsync("() => { window.notReloaded = true; }");

            var training = HostTests.Host([.. small, "--target=Train"]);
            await page.WaitForSelectorAsync("#live-epochs", new() { Timeout = 180_000 });
            int first = int.Parse((await page.TextContentAsync("#live-epochs"))!);
            await page.WaitForFunctionAsync($"() => Number(document.getElementById('live-epochs')?.textContent) > {first}", null, new() { Timeout = 120_000 });
            await ReportBrowser.ScreenshotAsync(page, "report-live");
            Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page was reloaded");
            var trained = await training;
            Assert.True(trained.ExitCode == 0, trained.Output + trained.Error);
            await page.WaitForSelectorAsync("#live .finished", new() { Timeout = 30_000 });
            Assert.Empty(errors);
        }
        finally
        {
            // Ctrl-C stops the server: SIGINT, as a terminal sends it.
            using (var interrupt = System.Diagnostics.Process.Start("kill", ["-INT", server.Id.ToString()])) await interrupt.WaitForExitAsync();
            if (!server.WaitForExit(30_000))
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit();
                Assert.Fail("Ctrl-C (SIGINT) did not stop the server within 30 s:\n" + served);
            }
        }
        Assert.Equal(0, server.ExitCode);
        Assert.Contains("stopped serving", served.ToString());
    }
}
