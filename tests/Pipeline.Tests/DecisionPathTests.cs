using System.Text.Json.Nodes;

namespace Pipeline.Tests;

/// <summary>
/// The engine decides in one place: what a dry run says of each stage (up to date, would restore from this machine's
/// cache or from the shared one, would run) is exactly what the real run then does, with a real nginx as the shared
/// cache and without one.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DecisionPathTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static readonly Dictionary<string, string> Done = new()
    {
        ["up-to-date"] = "up-to-date",
        ["would-restore-local"] = "restored-local",
        ["would-restore-shared"] = "restored-shared",
        ["would-run"] = "executed",
        ["not-needed"] = "not-needed",
    };

    /// <summary>A dry run then the real run of the same command; asserts they agree and returns what was done per task.</summary>
    async Task<Dictionary<string, string>> Agree(string artifacts, string? cacheUrl, int limit)
    {
        string[] args = [$"--artifacts={temp[artifacts]}", $"--mirror={TestHost.MnistMirror}", "--target=Export", $"--set=export.limit={limit}",
            .. cacheUrl is null ? Array.Empty<string>() : [$"--cache-url={cacheUrl}"]];
        var dry = await HostTests.Host([.. args, "--dryrun", "--format=json"]);
        Assert.True(dry.ExitCode == 0, dry.Output + dry.Error);
        var real = await HostTests.Host([.. args, $"--report={temp["report.json"]}"]);
        Assert.True(real.ExitCode == 0, real.Output + real.Error);
        var said = Results(JsonNode.Parse(dry.Output)!);
        var done = Results(JsonNode.Parse(File.ReadAllText(temp["report.json"]))!);
        Assert.Equal(said.Keys, done.Keys);
        foreach (var (task, result) in said)
            Assert.True(Done[result] == done[task], $"{artifacts}, limit {limit}: the dry run said {task} {result}, the run did {done[task]}");
        return done;
    }

    static Dictionary<string, string> Results(JsonNode report) =>
        report["tasks"]!.AsArray().ToDictionary(t => (string)t!["task"]!, t => (string)t!["result"]!);

    [Fact]
    public async Task Dry_run_and_real_run_agree_for_every_stage_with_and_without_the_shared_cache()
    {
        using var nginx = new Nginx();
        // The first folder runs two export limits: the shared cache holds both.
        Assert.All((await Agree("first", nginx.Url, 20)).Values, r => Assert.Equal("executed", r));
        Assert.Equal("executed", (await Agree("first", nginx.Url, 10))["Export"]);

        // A second folder: everything from the shared cache, then back and forth between its own cache and the shared one.
        Assert.All((await Agree("second", nginx.Url, 20)).Values, r => Assert.Equal("restored-shared", r));
        var limit10 = await Agree("second", nginx.Url, 10);
        Assert.Equal(("up-to-date", "restored-shared"), (limit10["Verify"], limit10["Export"]));
        Assert.Equal("restored-local", (await Agree("second", nginx.Url, 20))["Export"]);
        Assert.Equal("executed", (await Agree("second", nginx.Url, 5))["Export"]);

        // Without the shared cache: this machine's cache only.
        Assert.Equal("restored-local", (await Agree("second", null, 10))["Export"]);
        Assert.Equal("up-to-date", (await Agree("second", null, 10))["Export"]);
        var third = await Agree("third", null, 20);
        Assert.All(third.Values, r => Assert.Equal("executed", r));
    }
}
