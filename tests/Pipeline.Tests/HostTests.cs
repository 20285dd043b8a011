using System.Diagnostics;
using System.Runtime.InteropServices;
using Pipeline.Stages;


namespace Pipeline.Tests;

/// <summary>The host as users and CI run it: a real process, its exit code, its messages and its summary table.</summary>
[Trait("Category", "Integration")]
public class HostTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string Artifacts => temp["artifacts"];

    internal sealed record Run(int ExitCode, string Output, string Error)
    {
        /// <summary>A stage's row of the summary table: its result and reason.</summary>
        public string Row(string task) => Output.Split('\n').FirstOrDefault(l => l.StartsWith(task + " ", StringComparison.Ordinal))?.Trim() ?? "";
    }

    internal static Task<Run> Host(params string[] args) => HostWith(new Dictionary<string, string>(), args);

    /// <summary>The host killed at crash point <paramref name="killAt"/> (<see cref="CrashHook"/>), or left alone when null.</summary>
    static Task<Run> HostKilledAt(string? killAt, params string[] args) =>
        HostWith(killAt is null ? new Dictionary<string, string>() : new() { [CrashHook.Variable] = killAt }, args);

    /// <summary>The host with these environment variables set.</summary>
    internal static Task<Run> HostWith(IReadOnlyDictionary<string, string> environment, params string[] args) => HostIn(null, environment, args);

    /// <summary>How to start the host with these arguments, its stdout and stderr redirected (read both).</summary>
    internal static ProcessStartInfo HostStart(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Build.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return start;
    }

    /// <summary>The host started in <paramref name="workingDirectory"/> (null: this process's), with these environment variables set.</summary>
    internal static async Task<Run> HostIn(string? workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = HostStart(args);
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Run(process.ExitCode, await output, await error);
    }

    Task<Run> Verify(params string[] args) => VerifyIn(Artifacts, null, args);

    static Task<Run> VerifyIn(string artifacts, string? killAt, params string[] args) =>
        HostKilledAt(killAt, [$"--artifacts={artifacts}", $"--mirror={TestHost.MnistMirror}", "--target=Verify", .. args]);

    /// <summary>Every output file of a stage (not its record) and its bytes' hash.</summary>
    internal static Dictionary<string, string> Outputs(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => Path.GetFileName(f) != StageRecord.FileName)
        .ToDictionary(f => Path.GetRelativePath(folder, f), ContentHash.OfFile);

    [Fact]
    public async Task A_host_killed_at_every_commit_step_recovers_to_the_outputs_of_an_uninterrupted_run()
    {
        string straight = temp["straight"];
        Assert.Equal(0, (await VerifyIn(straight, null)).ExitCode);
        Assert.Equal(0, (await VerifyIn(straight, null, "--set=verify.validation=1000")).ExitCode);
        var expected = Outputs(Path.Combine(straight, "verify"));

        foreach (var step in ArtifactStore.CommitPoints)
        {
            string artifacts = temp[$"killed-{step}"];
            Assert.Equal(0, (await VerifyIn(artifacts, null)).ExitCode);
            var killed = await VerifyIn(artifacts, step, "--set=verify.validation=1000");
            Assert.NotEqual(0, killed.ExitCode);
            Assert.Contains($"{CrashHook.Variable}={step}#1: killing the process", killed.Error);

            var rerun = await VerifyIn(artifacts, null, "--set=verify.validation=1000");
            Assert.Equal(0, rerun.ExitCode);
            // Killed once the record was written, the commit is finished or its result kept: the rerun recomputes nothing.
            Assert.True(rerun.Row("Verify").Contains("skipped (up to date)") || step == "commit-recorded" && rerun.Row("Verify").Contains("executed"), $"{step}: {rerun.Row("Verify")}");
            Assert.Equal(expected, Outputs(Path.Combine(artifacts, "verify")));
            Assert.Empty(Directory.EnumerateDirectories(Path.Combine(artifacts, ".staging"), "*.retired-*"));
        }
    }

    [Fact]
    public async Task Ctrl_C_during_export_stops_at_once_and_records_nothing()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "Build.dll"), $"--artifacts={Artifacts}", $"--mirror={TestHost.MnistMirror}", "--target=Export" })
            start.ArgumentList.Add(arg);
        using var host = TestHost.StartInterruptible(start);
        while (await host.StandardOutput.ReadLineAsync() is { } line && !line.Contains("export train")) { }
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-INT", host.Id.ToString()])) await kill.WaitForExitAsync();
        string rest = await host.StandardOutput.ReadToEndAsync();
        await host.WaitForExitAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"stopped after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(1, host.ExitCode);
        Assert.Contains("cancelling", rest);
        Assert.Null(StageRecord.TryRead(Path.Combine(Artifacts, "export")));
    }

    [Fact]
    public async Task Two_jobs_give_the_same_bytes_as_one()
    {
        // A small whole pipeline: Export and Augment run side by side, then Train (compact, one epoch) and Evaluate.
        string[] small = [$"--mirror={TestHost.MnistMirror}", "--set=export.limit=50", "--set=augment.samples=300", "--set=transfer.enabled=false",
            "--set=train.model=compact", "--set=train.epochs=1", "--set=train.threads=1", "--no-cache"];
        var one = await Host([$"--artifacts={temp["one"]}", "--jobs=1", .. small]);
        var two = await Host([$"--artifacts={temp["two"]}", "--jobs=2", .. small]);
        Assert.Equal(0, one.ExitCode);
        Assert.Equal(0, two.ExitCode);
        Assert.Contains("[Export] ", two.Output);
        Assert.Contains("the tasks' times add up to", two.Output);
        foreach (var stage in new[] { "download", "verify", "export", "augment", "train", "evaluate" })
        {
            var (a, b) = (Outputs(Path.Combine(temp["one"], stage)), Outputs(Path.Combine(temp["two"], stage)));
            // The report quotes the recorded training durations; every result beside it must match.
            if (stage == "evaluate") Assert.True(a.Remove("report.md") && b.Remove("report.md"));
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public async Task Two_hosts_on_one_folder_take_turns_and_on_two_folders_both_run()
    {
        var same = await Task.WhenAll(Verify(), Verify());
        Assert.All(same, run => Assert.Equal(0, run.ExitCode));
        Assert.Single(same, run => run.Row("Verify").Contains("executed"));
        Assert.Single(same, run => run.Row("Verify").Contains("skipped (up to date)"));

        var apart = await Task.WhenAll(VerifyIn(temp["a"], null), VerifyIn(temp["b"], null));
        Assert.All(apart, run => Assert.Contains("executed", run.Row("Verify")));
        Assert.Equal(Outputs(Path.Combine(temp["a"], "verify")), Outputs(Path.Combine(temp["b"], "verify")));
    }

    [Fact]
    public async Task Help_lists_every_option_and_every_task()
    {
        var run = await Host("--help");
        Assert.Equal(0, run.ExitCode);
        foreach (var text in new[] { "--target=TASK", "--dryrun", "--force", "--exclusive", "--set=SECTION.KEY=VALUE", "--mirror=URL|FOLDER", "--artifacts=FOLDER", "Download", "Evaluate", "Show", "relative to the working directory" })
            Assert.Contains(text, run.Output);
    }

    [Fact]
    public async Task Tree_prints_the_stages_in_dependency_order_as_the_declarations_say()
    {
        var run = await Host("--tree");
        Assert.Equal(0, run.ExitCode);
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["Download", "Verify", "Augment", "Train", "Featurize", "Transfer", "Evaluate", "Export", "Predict", "CacheGc", "Compare", "Experiments", "Report", "Show", "Default"], lines.Select(l => l.Split(' ')[0]));
        Assert.EndsWith("← Verify, Augment", lines[3]);
    }

    [Theory]
    [InlineData("--targte=Train", "unknown option --targte (did you mean --target?)")]
    [InlineData("--target=Nope", "--target=Nope: no such task")]
    [InlineData("train", "unexpected argument 'train'")]
    [InlineData("--set=train.epochs=abc", "train.epochs expects a whole number, got \"abc\"")]
    [InlineData("--set=trian.epochs=3", "--set trian.epochs=3: unknown section 'trian'")]
    [InlineData("--dryrun=maybe", "--dryrun is a flag")]
    [InlineData("--lock-wait=-1", "--lock-wait=-1: expected a number of seconds ≥ 0")]
    [InlineData("--params=no-such-params.json", "no-such-params.json: parameters file not found")]
    [InlineData("--verbosity=loud", "--verbosity=loud: expected one of")]
    public async Task A_usage_mistake_exits_2_with_a_message_naming_it(string arg, string message)
    {
        var run = await Host(arg, $"--artifacts={Artifacts}");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.False(Directory.Exists(Artifacts)); // nothing written
    }

    [Fact]
    public async Task Each_record_names_the_heap_its_process_ran_on()
    {
        // build.sh preloads tcmalloc when installed (test.sh installs it); a record must say which heap a run had.
        string arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "aarch64" : "x86_64";
        string tcmalloc = $"/usr/lib/{arch}-linux-gnu/libtcmalloc_minimal.so.4";
        Assert.True(File.Exists(tcmalloc), $"{tcmalloc} is missing: test.sh installs libtcmalloc-minimal4");
        foreach (var (preload, heap) in new[] { (tcmalloc, "tcmalloc"), ("", "glibc") })
        {
            string artifacts = temp[$"artifacts-{heap}"];
            var run = await HostWith(new Dictionary<string, string> { ["LD_PRELOAD"] = preload },
                $"--artifacts={artifacts}", $"--mirror={TestHost.MnistMirror}", "--target=Download");
            Assert.True(run.ExitCode == 0, run.Output + run.Error);
            Assert.Equal(heap, StageRecord.TryRead(Path.Combine(artifacts, "download"))!.Tools["malloc"]);
        }
    }

    [Fact]
    public async Task An_artifacts_path_that_is_a_file_exits_2_at_once()
    {
        File.WriteAllText(temp["file"], "not a folder");
        var run = await Host($"--artifacts={temp["file"]}", "--target=Download");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is a file, not a folder", run.Error);
    }

    [Fact]
    public async Task A_failing_stage_exits_1_and_says_why()
    {
        // An empty mirror, and the dataset's own mirrors out of reach of the tests: no good copy anywhere.
        Directory.CreateDirectory(temp["empty"]);
        var run = await Host($"--artifacts={Artifacts}", $"--mirror={temp["empty"]}", "--set=download.retries=0",
            "--set=download.connect_timeout_seconds=2", "--target=Download");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED", run.Row("Download"));
        Assert.Contains("--mirror=FOLDER", run.Output); // says how to run from local files
        Assert.Null(StageRecord.TryRead(Path.Combine(Artifacts, "download")));
    }

    [Fact]
    public async Task Reruns_dry_runs_force_exclusive_and_edited_outputs_behave_as_documented()
    {
        var first = await Verify();
        Assert.Equal(0, first.ExitCode);
        Assert.StartsWith("Verify    executed", first.Row("Verify"));

        // Keys that do not shape Verify or Download rerun nothing.
        var again = await Verify("--set=download.retries=0", "--set=augment.threads=1", "--set=featurize.batch_size=32");
        Assert.StartsWith("Download  skipped (up to date)", again.Row("Download"));
        Assert.StartsWith("Verify    skipped (up to date)", again.Row("Verify"));

        var dry = await Verify("--dryrun", "--set=verify.validation=100");
        Assert.Equal(0, dry.ExitCode);
        Assert.Contains("would run", dry.Row("Verify"));
        Assert.EndsWith("parameter verify.validation: 5000 → 100", dry.Row("Verify"));

        var forced = await Verify("--force", "--exclusive");
        Assert.Equal("", forced.Row("Download"));
        Assert.Contains("executed", forced.Row("Verify"));
        Assert.EndsWith("--force", forced.Row("Verify"));

        // One byte overwritten in place, same size: found, and the stage reruns.
        string images = Path.Combine(Artifacts, "verify", "test-images.u8");
        using (var file = new FileStream(images, FileMode.Open, FileAccess.Write)) { file.Position = 1000; file.WriteByte(0x7f); }
        var edited = await Verify();
        // Recomputed, or put back from the run cache's own copy: never trusted as it is.
        Assert.Matches("executed|restored \\(cache\\)", edited.Row("Verify"));
        Assert.EndsWith("output test-images.u8 was changed (its content differs from the record)", edited.Row("Verify"));
        Assert.Contains("skipped (up to date)", (await Verify()).Row("Verify"));
    }

    [Fact]
    public async Task A_second_process_waits_for_the_lock_and_then_runs()
    {
        Directory.CreateDirectory(Artifacts);
        var holder = ArtifactsLock.Acquire(Artifacts, TimeSpan.Zero);
        var waiting = Verify("--lock-wait=60");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(waiting.IsCompleted);
        holder.Dispose();
        var run = await waiting;
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("another run holds", run.Output);
        Assert.Contains("executed", run.Row("Verify"));
    }

    [Fact]
    public async Task A_run_that_cannot_get_the_lock_in_time_exits_1_naming_the_holder()
    {
        Directory.CreateDirectory(Artifacts);
        using var holder = ArtifactsLock.Acquire(Artifacts, TimeSpan.Zero);
        var run = await Verify("--lock-wait=1");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"pid {Environment.ProcessId}", run.Output);
    }
}
