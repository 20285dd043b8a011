using System.Text.Json.Nodes;

namespace Pipeline.Tests;

/// <summary>
/// Machines get JSON: with --format=json stdout holds one JSON document and nothing else (the log and the summary
/// table go to stderr); --report=FILE writes the run's summary that scripts and CI read instead of the table.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JsonOutputTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string[] Verify(params string[] more) => [$"--artifacts={temp["artifacts"]}", $"--mirror={TestHost.MnistMirror}", "--target=Verify", .. more];

    static Dictionary<string, JsonNode> Tasks(JsonNode report) =>
        report["tasks"]!.AsArray().ToDictionary(t => (string)t!["task"]!, t => t!);

    [Fact]
    public async Task A_report_file_says_per_task_what_happened_with_fingerprint_and_output_hash()
    {
        var first = await HostTests.Host(Verify($"--report={temp["first.json"]}"));
        Assert.True(first.ExitCode == 0, first.Output + first.Error);
        var report = JsonNode.Parse(File.ReadAllText(temp["first.json"]))!;
        Assert.Equal("Verify", (string)report["target"]!);
        Assert.Equal(0, (int)report["exit_code"]!);
        var tasks = Tasks(report);
        Assert.Equal(["Download", "Verify"], tasks.Keys);
        Assert.All(tasks.Values, t => Assert.Equal("executed", (string)t["result"]!));
        var record = new Pipeline.Stages.ArtifactStore(temp["artifacts"]).ReadRecord("verify")!;
        Assert.Equal(record.Fingerprint, (string)tasks["Verify"]["fingerprint"]!);
        Assert.Equal(record.OutputHash, (string)tasks["Verify"]["output_hash"]!);

        var second = await HostTests.Host(Verify($"--report={temp["second.json"]}"));
        Assert.Equal(0, second.ExitCode);
        var again = Tasks(JsonNode.Parse(File.ReadAllText(temp["second.json"]))!);
        Assert.All(again.Values, t => Assert.Equal("up-to-date", (string)t["result"]!));

        var failed = await HostTests.Host(Verify($"--report={temp["failed.json"]}", "--set=verify.validation=100000"));
        Assert.Equal(1, failed.ExitCode);
        var verify = Tasks(JsonNode.Parse(File.ReadAllText(temp["failed.json"]))!)["Verify"];
        Assert.Equal("failed", (string)verify["result"]!);
        Assert.Contains("verify.validation", (string)verify["reason"]!);
        Assert.Null(verify["fingerprint"]);
    }

    [Fact]
    public async Task With_format_json_stdout_is_only_json_for_every_query()
    {
        Assert.Equal(0, (await HostTests.Host(Verify())).ExitCode);
        var dry = await HostTests.Host(Verify("--dryrun", "--format=json", "--set=verify.validation=1000"));
        Assert.Equal(0, dry.ExitCode);
        var tasks = Tasks(JsonNode.Parse(dry.Output)!);
        Assert.Equal("up-to-date", (string)tasks["Download"]["result"]!);
        Assert.Equal("would-run", (string)tasks["Verify"]["result"]!);
        Assert.Contains("verify.validation", (string)tasks["Verify"]["reason"]!);
        Assert.Contains("would run", dry.Error); // the table, for people, on stderr

        var experiments = await HostTests.Host($"--artifacts={temp["artifacts"]}", "--target=Experiments", "--format=json");
        Assert.Equal(0, experiments.ExitCode);
        Assert.Empty(JsonNode.Parse(experiments.Output)!.AsArray());

        var tree = await HostTests.Host("--tree", "--format=json");
        var train = JsonNode.Parse(tree.Output)!.AsArray().Single(t => (string)t!["task"]! == "Train")!;
        Assert.Equal("artifacts/train/", (string)train["output"]!);
        Assert.Contains("Verify", train["depends_on"]!.AsArray().Select(d => (string)d!));

        var bad = await HostTests.Host("--tree", "--format=yaml");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--format=yaml: expected one of table, md, csv, json", bad.Error);
    }
}
