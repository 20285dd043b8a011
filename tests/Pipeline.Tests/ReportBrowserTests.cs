using Build.Host;
using Microsoft.Playwright;
using Pipeline.Experiments;

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
        Assert.Equal(3, await series.CountAsync()); // the epoch axis and the two runs
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
