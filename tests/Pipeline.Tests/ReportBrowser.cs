using Microsoft.Playwright;

namespace Pipeline.Tests;

/// <summary>
/// Debian's chromium driven by Playwright (its node driver ships in the NuGet package; no browser is downloaded). Each
/// page records what the browser's console and the page's scripts report as errors: a report view must have none.
/// </summary>
sealed class ReportBrowser : IAsyncDisposable
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>Where the tests save a screenshot of each view (docs/ holds copies of them).</summary>
    public static string Screenshots { get; } = Path.Combine(TestHost.Root, "TestResults", "report");

    readonly IPlaywright playwright;
    readonly IBrowser browser;

    ReportBrowser(IPlaywright playwright, IBrowser browser) => (this.playwright, this.browser) = (playwright, browser);

    public static async Task<ReportBrowser> StartAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"{Chromium} is missing: run ./test.sh, which installs Debian's chromium");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
        return new ReportBrowser(playwright, browser);
    }

    /// <summary>A new page of 1400×900 opened at <paramref name="url"/>; <paramref name="errors"/> collects console errors and uncaught exceptions.</summary>
    public async Task<(IPage Page, List<string> Errors)> OpenAsync(string url)
    {
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") lock (errors) errors.Add($"{message.Text} ({message.Location})"); };
        page.PageError += (_, error) => { lock (errors) errors.Add(error); };
        await page.GotoAsync(url);
        return (page, errors);
    }

    public static string FileUrl(string path) => new Uri(path).AbsoluteUri;

    /// <summary>Saves a screenshot of the page down to the end of its content as <c>TestResults/report/NAME.png</c>.</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(Screenshots);
        // Not the empty viewport below a short view: the docs show these.
        int[] size = await page.EvaluateAsync<int[]>("""
            () => [document.documentElement.clientWidth,
                   Math.ceil(Math.max(...[...document.body.children].map(e => e.getBoundingClientRect().bottom + window.scrollY)) + 16)]
            """);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true, Clip = new() { X = 0, Y = 0, Width = size[0], Height = size[1] } });
    }

    public async ValueTask DisposeAsync()
    {
        await browser.CloseAsync();
        playwright.Dispose();
    }
}
