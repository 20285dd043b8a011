using System.Text.Json.Nodes;
using System.Diagnostics;
using Pipeline.Stages;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class StageEngineTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly ArtifactStore store;
    readonly List<string> ran = [];

    public StageEngineTests() => store = new ArtifactStore(temp["artifacts"]);

    public void Dispose() => temp.Dispose();

    sealed record UpperParameters(int Repeat);

    StageDefinition Upper(int repeat = 1) => new("upper", new UpperParameters(repeat), new UpstreamInput("source"));
    StageDefinition Count(string code = "v1") => new("count", CanonicalJson.ToNode(new { }),
        new SortedDictionary<string, string> { ["src/Count.cs"] = ContentHash.OfText(code) }, [new UpstreamInput("upper")]);

    /// <summary>Records the "source" stage, whose one output is <paramref name="text"/>.</summary>
    Task WriteSource(string text) =>
        store.RunAsync(new StageDefinition("source", new { }), (w, _) => File.WriteAllTextAsync(w.PathOf("source.txt"), text));

    string SourceText => File.ReadAllText(Path.Combine(store.StageDirectory("source"), "source.txt"));

    // A two-stage pipeline on a recorded source ("hello" unless a test wrote another): "upper" reads the source,
    // "count" reads upper's output. Each runs only when stale.
    async Task RunPipeline(int repeat = 1, string countCode = "v1")
    {
        if (store.ReadRecord("source") is null) await WriteSource("hello");
        var upper = Upper(repeat);
        if (!store.Check(upper).UpToDate)
        {
            ran.Add("upper");
            await store.RunAsync(upper, (w, _) => File.WriteAllTextAsync(w.PathOf("out.txt"),
                string.Concat(Enumerable.Repeat(SourceText.ToUpperInvariant(), repeat))));
        }
        var count = Count(countCode);
        if (!store.Check(count).UpToDate)
        {
            ran.Add("count");
            await store.RunAsync(count, (w, _) =>
            {
                w.Metrics["length"] = File.ReadAllText(Path.Combine(store.StageDirectory("upper"), "out.txt")).Length;
                return File.WriteAllTextAsync(w.PathOf("count.txt"), "ok");
            });
        }
    }

    [Fact]
    public async Task A_second_run_with_nothing_changed_runs_nothing()
    {
        await RunPipeline();
        Assert.Equal(["upper", "count"], ran);
        ran.Clear();
        await RunPipeline();
        Assert.Empty(ran);
        Assert.Equal("HELLO", File.ReadAllText(Path.Combine(store.StageDirectory("upper"), "out.txt")));
    }

    [Fact]
    public async Task A_parameter_change_reruns_that_stage_and_its_dependents_and_says_which_parameter()
    {
        await RunPipeline();
        var status = store.Check(Upper(repeat: 2));
        Assert.False(status.UpToDate);
        Assert.Contains("parameter repeat: 1 → 2", status.Reason);
        ran.Clear();
        await RunPipeline(repeat: 2);
        Assert.Equal(["upper", "count"], ran);
        Assert.Equal(10, store.ReadRecord("count")!.Metrics["length"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_changed_upstream_output_reruns_downstream()
    {
        await RunPipeline();
        await WriteSource("changed");
        Assert.Contains("input changed: source", store.Check(Upper()).Reason);
        ran.Clear();
        await RunPipeline();
        Assert.Equal(["upper", "count"], ran);
    }

    [Fact]
    public async Task An_upstream_rerun_with_identical_output_does_not_rerun_downstream()
    {
        await RunPipeline();
        ran.Clear();
        File.Delete(Path.Combine(store.StageDirectory("upper"), "out.txt"));
        await RunPipeline();
        Assert.Equal(["upper"], ran); // same content again: count's input hash is unchanged
    }

    [Fact]
    public async Task A_deleted_or_resized_output_reruns_the_stage()
    {
        await RunPipeline();
        string output = Path.Combine(store.StageDirectory("count"), "count.txt");
        File.Delete(output);
        Assert.Contains("output count.txt is missing", store.Check(Count()).Reason);
        ran.Clear();
        await RunPipeline();
        Assert.Equal(["count"], ran);

        File.WriteAllText(output, "not ok");
        Assert.Contains("output count.txt has 6 bytes, recorded 2", store.Check(Count()).Reason);
    }

    [Fact]
    public async Task Changed_code_reruns_the_stage_and_names_the_file()
    {
        await RunPipeline();
        Assert.Equal("code changed: src/Count.cs", store.Check(Count(code: "v2")).Reason);
        ran.Clear();
        await RunPipeline(countCode: "v2");
        Assert.Equal(["count"], ran);
    }

    [Fact]
    public async Task An_output_edited_in_place_with_the_same_size_is_detected()
    {
        await RunPipeline();
        string output = Path.Combine(store.StageDirectory("upper"), "out.txt");
        File.WriteAllText(output, "HELLP");
        Assert.Equal("output out.txt was changed (its content differs from the record)", store.Check(Upper()).Reason);
        ran.Clear();
        await RunPipeline();
        Assert.Equal(["upper"], ran); // same content again, so count is still up to date
        Assert.Equal("HELLO", File.ReadAllText(output));
    }

    /// <summary>The crash campaign's cases: another digit's PNG of the same length, model.pt and a label byte changed in place.</summary>
    [Theory]
    [InlineData("export/test/7/00000.png")]
    [InlineData("model.pt")]
    [InlineData("test-labels.u8")]
    public async Task A_same_size_edit_of_any_output_reruns_its_stage(string file)
    {
        var definition = new StageDefinition("any", new { file });
        byte[] original = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))];
        await store.RunAsync(definition, (w, _) =>
        {
            Directory.CreateDirectory(Path.GetDirectoryName(w.PathOf(file))!);
            return File.WriteAllBytesAsync(w.PathOf(file), original);
        });
        Assert.True(store.Check(definition).UpToDate);
        byte[] edited = [.. original];
        edited[1234] ^= 1;
        File.WriteAllBytes(Path.Combine(store.StageDirectory("any"), file), edited);
        Assert.Equal($"output {file} was changed (its content differs from the record)", store.Check(definition).Reason);
    }

    [Fact]
    public async Task A_touched_output_with_the_same_content_is_read_once_and_the_record_takes_the_new_stamp()
    {
        await RunPipeline();
        string output = Path.Combine(store.StageDirectory("upper"), "out.txt");
        string stamp = store.ReadRecord("upper")!.OutputStamp!;
        File.SetLastWriteTimeUtc(output, File.GetLastWriteTimeUtc(output).AddMinutes(5));
        Assert.True(store.Check(Upper()).UpToDate);
        string now = store.ReadRecord("upper")!.OutputStamp!;
        Assert.NotEqual(stamp, now);
        Assert.Equal(OutputManifest.Stamp(store.StageDirectory("upper")), now); // so the next check reads no file
    }

    [Fact]
    public async Task An_output_list_that_is_not_the_records_makes_the_stage_stale_once_the_folder_changed()
    {
        await RunPipeline();
        string folder = store.StageDirectory("upper");
        File.WriteAllText(Path.Combine(folder, OutputManifest.FileName), "[]");
        Assert.True(store.Check(Upper()).UpToDate); // the folder's files are as recorded: the list is not read
        File.SetLastWriteTimeUtc(Path.Combine(folder, "out.txt"), DateTime.UtcNow.AddMinutes(5));
        Assert.Equal($"its output list {OutputManifest.FileName} is missing or not the record's", store.Check(Upper()).Reason);
    }

    [Fact]
    public async Task A_record_of_the_earlier_format_is_passed_over_and_its_stage_runs_again()
    {
        await RunPipeline();
        string path = Path.Combine(store.StageDirectory("upper"), StageRecord.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var key in new[] { "format", "output_files", "output_bytes", "output_stamp" }) json.Remove(key);
        json["outputs"] = new JsonArray(new JsonObject { ["modified"] = 0, ["path"] = "out.txt", ["sha256"] = ContentHash.OfText("HELLO"), ["size"] = 5 });
        File.WriteAllText(path, json.ToJsonString());
        Assert.Equal(StageRecord.OlderFormat, store.Check(Upper()).Reason);
        ran.Clear();
        await RunPipeline();
        Assert.Equal(["upper"], ran); // the same output hash as before: count stays up to date
    }

    [Fact]
    public async Task A_commit_interrupted_between_its_renames_is_finished_on_the_next_start()
    {
        await RunPipeline();
        // What a kill between the two renames of a swap leaves: the old folder retired, the new one still staged.
        string staging = Path.Combine(store.Root, ".staging");
        Directory.CreateDirectory(Path.Combine(staging, "count.retired-0123"));
        Directory.Move(store.StageDirectory("count"), Path.Combine(staging, "count"));

        var messages = new List<string>();
        store.Recover(messages.Add);
        Assert.StartsWith("count: finished an interrupted commit", Assert.Single(messages));
        Assert.False(Directory.Exists(Path.Combine(staging, "count.retired-0123")));
        ran.Clear();
        await RunPipeline();
        Assert.Empty(ran); // nothing recomputed: the complete staged outputs went in
    }

    [Fact]
    public async Task What_interrupted_runs_left_is_kept_until_a_run_of_the_stage_is_recorded()
    {
        var definition = new StageDefinition("slow", new { });
        for (int attempt = 0; attempt < 2; attempt++)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => store.RunAsync(definition, (w, _) =>
            {
                File.WriteAllText(w.PathOf($"attempt-{attempt}.txt"), "partial");
                throw new InvalidOperationException("killed");
            }));
        }
        await store.RunAsync(definition, (w, _) =>
        {
            Assert.Equal(2, w.Leftovers.Count); // both attempts' work is offered, newest first
            Assert.True(File.Exists(Path.Combine(w.Leftovers[0], "attempt-1.txt")));
            Assert.True(File.Exists(Path.Combine(w.Leftovers[1], "attempt-0.txt")));
            return File.WriteAllTextAsync(w.PathOf("done.txt"), "ok");
        });
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(store.Root, ".staging"), "slow.leftover-*"));
    }

    [Fact]
    public async Task Fresh_modification_times_on_unchanged_content_still_skip()
    {
        await RunPipeline();
        var later = DateTime.UtcNow.AddHours(3);
        foreach (var file in Directory.EnumerateFiles(temp.Path, "*", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(file, later);
        ran.Clear();
        await RunPipeline();
        Assert.Empty(ran);
    }

    [Fact]
    public async Task A_failing_stage_records_nothing_and_keeps_the_previous_outputs()
    {
        await RunPipeline();
        var before = store.ReadRecord("upper")!;
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.RunAsync(Upper(repeat: 3), async (w, _) =>
        {
            await File.WriteAllTextAsync(w.PathOf("out.txt"), "half");
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal(before.Fingerprint, store.ReadRecord("upper")!.Fingerprint);
        Assert.Equal("HELLO", File.ReadAllText(Path.Combine(store.StageDirectory("upper"), "out.txt")));
        Assert.False(store.Check(Upper(repeat: 3)).UpToDate);
    }

    [Fact]
    public async Task The_record_holds_parameters_inputs_outputs_and_tool_versions()
    {
        await RunPipeline();
        var record = store.ReadRecord("upper")!;
        Assert.Equal(1, record.Parameters!["repeat"]!.GetValue<int>());
        Assert.Equal(store.ReadRecord("source")!.OutputHash, record.Inputs["source"]);
        var output = Assert.Single(store.Outputs("upper")!);
        Assert.Equal(("out.txt", 5L, ContentHash.OfText("HELLO")), (output.Path, output.Size, output.Sha256));
        Assert.Equal(Environment.Version.ToString(), record.Tools["dotnet"]);
        Assert.Equal(record.OutputHash, store.ReadRecord("count")!.Inputs["upper"]);
    }

    [Fact]
    public async Task A_stage_whose_upstream_never_completed_fails_clearly()
    {
        var error = await Assert.ThrowsAsync<StageException>(() => store.RunAsync(Count(), (_, _) => Task.CompletedTask));
        Assert.Equal("stage 'count' needs the outputs of 'upper', which has not completed", error.Message);
        Assert.Null(store.ReadRecord("count"));
    }

    [Fact]
    public async Task Declared_outputs_are_recorded_without_reading_them_back_unless_their_size_differs()
    {
        await store.RunAsync(new StageDefinition("declared", new { }), async (w, _) =>
        {
            byte[] a = "alpha"u8.ToArray(), b = "beta"u8.ToArray();
            await File.WriteAllBytesAsync(w.PathOf("a.txt"), a);
            w.Declare("a.txt", a);
            w.Declare("b.txt", b);
            await File.WriteAllTextAsync(w.PathOf("b.txt"), "beta, longer than declared");
        });
        Assert.Equal(ContentHash.OfText("alpha"), store.Outputs("declared")!.Single(o => o.Path == "a.txt").Sha256);
        Assert.Equal(ContentHash.OfText("beta, longer than declared"), store.Outputs("declared")!.Single(o => o.Path == "b.txt").Sha256);
    }

    [Fact]
    public void A_second_run_waits_for_the_lock_and_then_fails_clearly()
    {
        using var first = ArtifactsLock.Acquire(temp.Path, TimeSpan.Zero);
        var messages = new List<string>();
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<StageException>(() => ArtifactsLock.Acquire(temp.Path, TimeSpan.FromSeconds(1), messages.Add));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9));
        Assert.Contains($"pid {Environment.ProcessId}", error.Message);
        Assert.Single(messages);
        first.Dispose();
        using var again = ArtifactsLock.Acquire(temp.Path, TimeSpan.Zero);
    }
}

/// <summary>The engine against a real process killed mid-stage (tests/StageProbe): a child process, so not a unit test.</summary>
[Trait("Category", "Integration")]
public class StageEngineKillTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task A_process_killed_mid_stage_leaves_nothing_that_looks_complete_and_the_next_run_completes()
    {
        string artifacts = temp["killed"];
        string probe = Path.Combine(AppContext.BaseDirectory, "StageProbe.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { probe, artifacts, "20", "200" }) start.ArgumentList.Add(arg);
        using (var child = Process.Start(start)!)
        {
            // Kill it after it has written a few files but long before it finishes.
            while (await child.StandardOutput.ReadLineAsync() is { } line && line != "writing 3") { }
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        var killed = new ArtifactStore(artifacts);
        Assert.Null(killed.ReadRecord("probe"));
        Assert.False(killed.Check(ProbeStage.Definition(20)).UpToDate);
        Assert.False(Directory.Exists(killed.StageDirectory("probe")));

        var record = await killed.RunAsync(ProbeStage.Definition(20), async (w, _) =>
        {
            Assert.Single(w.Leftovers); // what the killed run wrote is offered for salvage
            Assert.True(File.Exists(Path.Combine(w.Leftovers[0], "part-000.txt")));
            for (int i = 0; i < 20; i++)
                await File.WriteAllTextAsync(w.PathOf($"part-{i:D3}.txt"), ProbeStage.Content(i));
        });
        Assert.Equal(20, record.OutputFiles);
        Assert.True(killed.Check(ProbeStage.Definition(20)).UpToDate);
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(artifacts, ".staging"), "probe.leftover-*"));
    }
}
