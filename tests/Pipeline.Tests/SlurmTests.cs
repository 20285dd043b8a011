using System.Diagnostics;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>A small real MNIST for the runs. The cluster is ./test.sh's (build/slurm/local-cluster.sh start): a test never starts one.</summary>
public sealed class SlurmFixture : IDisposable
{
    readonly TempFolder temp = new();

    /// <summary>Fails the test, saying how to get one, where no Slurm cluster answers.</summary>
    public static void RequireCluster()
    {
        if (SlurmCluster.Unavailable() is { } why)
            Assert.Fail($"no Slurm cluster answers ({why}): run ./test.sh, which starts one (as root: build/slurm/local-cluster.sh start)");
    }

    /// <summary>The first 400 training and 200 test images of MNIST, as a dataset definition and its mirror folder.</summary>
    public string Definition => temp["tiny-mnist.json"];
    public string Mirror => temp["mirror"];

    public SlurmFixture() => TinyMnist.Write(Mirror, Definition, train: 400, test: 200);

    public void Dispose() => temp.Dispose();
}

/// <summary>--executor=slurm on a real cluster: sharded stages give a local run's bytes; a killed task is said and redone alone.</summary>
[Trait("Category", "Cluster")]
public class SlurmTests(SlurmFixture fixture) : IClassFixture<SlurmFixture>, IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    sealed record Run(int ExitCode, string Output)
    {
        public string Row(string task) => Output.Split('\n').FirstOrDefault(l => l.StartsWith(task + " ", StringComparison.Ordinal))?.Trim() ?? "";
    }

    /// <summary>The host on the small dataset (100 of its training images held out for validation: 600 images in three splits).</summary>
    async Task<Run> Host(string artifacts, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = Process.Start(Start(artifacts, environment, args))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Run(process.ExitCode, await output + await error);
    }

    ProcessStartInfo Start(string artifacts, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        foreach (var arg in (string[])[Path.Combine(AppContext.BaseDirectory, "Build.dll"), $"--artifacts={artifacts}", $"--mirror={fixture.Mirror}",
                     $"--mirror={TestHost.ModelsMirror}", $"--set=download.dataset={fixture.Definition}", "--set=verify.validation=100",
                     "--set=slurm.poll_seconds=0.2", .. args])
            start.ArgumentList.Add(arg);
        return start;
    }

    /// <summary>Every output file of a stage (not its record) and its bytes' hash.</summary>
    static SortedDictionary<string, string> Outputs(string folder) => new(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => Path.GetFileName(f) != StageRecord.FileName)
        .ToDictionary(f => Path.GetRelativePath(folder, f), ContentHash.OfFile), StringComparer.Ordinal);

    /// <summary>The outputs of a local run of the task (in a folder of their own, named by <paramref name="name"/>).</summary>
    async Task<SortedDictionary<string, string>> Local(string task, string name, params string[] sets)
    {
        string artifacts = temp[$"local-{name}"];
        var run = await Host(artifacts, null, [$"--target={task}", .. sets]);
        Assert.True(run.ExitCode == 0, run.Output);
        return Outputs(Path.Combine(artifacts, task.ToLowerInvariant()));
    }

    [Fact]
    public async Task Featurize_Export_and_Augment_in_four_Slurm_shards_write_the_bytes_of_a_local_run()
    {
        SlurmFixture.RequireCluster();
        foreach (var (task, stage, sets) in new[]
        {
            ("Featurize", "featurize", new string[0]),
            ("Export", "export", ["--set=export.one_hot=true"]),
            ("Augment", "augment", ["--set=augment.samples=500", "--set=augment.png=true", "--set=augment.preview_images=10",
                "--set=augment.operations=[{\"op\":\"rotate\",\"probability\":0.9},{\"op\":\"random_distortion\",\"probability\":0.5}]"]),
        })
        {
            var local = await Local(task, stage, sets);
            string artifacts = temp[$"slurm-{stage}"];
            var run = await Host(artifacts, null, [$"--target={task}", "--executor=slurm", "--shards=4", .. sets]);
            Assert.True(run.ExitCode == 0, run.Output);
            Assert.Contains("4 go to Slurm", run.Output);
            Assert.StartsWith($"{task} ", run.Row(task));
            Assert.Contains("executed", run.Row(task));
            Assert.Equal(local, Outputs(Path.Combine(artifacts, stage)));
            Assert.False(Directory.Exists(Path.Combine(artifacts, ".shards", stage)), "the shards are gone once the stage is recorded");

            // Recorded as a local run records: a local run of the same command finds it up to date.
            var again = await Host(artifacts, null, [$"--target={task}", .. sets]);
            Assert.Contains("skipped (up to date)", again.Row(task));
        }
    }

    [Fact]
    public async Task A_killed_shard_task_fails_the_stage_naming_the_shard_and_its_log_and_the_rerun_submits_only_that_shard()
    {
        SlurmFixture.RequireCluster();
        var local = await Local("Featurize", "featurize");
        string artifacts = temp["slurm"];

        var killed = await Host(artifacts, new Dictionary<string, string> { [CrashHook.Variable] = "shard-2" }, "--target=Featurize", "--executor=slurm", "--shards=4");
        Assert.Equal(1, killed.ExitCode);
        var error = killed.Output.Split('\n').First(l => l.Contains("shard 2/4"));
        Assert.Contains("(items 300–449) failed: Slurm task", error);
        string log = error[(error.IndexOf("its log: ", StringComparison.Ordinal) + "its log: ".Length)..].Split(';')[0].Trim();
        Assert.Contains($"{CrashHook.Variable}=shard-2#1: killing the process", File.ReadAllText(log));
        Assert.Contains("FAILED", killed.Row("Featurize"));
        Assert.False(File.Exists(Path.Combine(artifacts, "featurize", StageRecord.FileName)), "a failed shard records nothing");

        var rerun = await Host(artifacts, null, "--target=Featurize", "--executor=slurm", "--shards=4");
        Assert.True(rerun.ExitCode == 0, rerun.Output);
        Assert.Contains("3 finished earlier, 1 go to Slurm", rerun.Output);
        Assert.Matches(@"Slurm job \d+, tasks 2;", rerun.Output);
        Assert.Equal(local, Outputs(Path.Combine(artifacts, "featurize")));
    }

    [Fact]
    public async Task A_sweep_on_Slurm_runs_each_point_as_a_task_that_restores_the_shared_stages_from_the_cache()
    {
        SlurmFixture.RequireCluster();
        string artifacts = temp["sweep"];
        var run = await Host(artifacts, null, "--target=Augment", "--executor=slurm", "--sweep=augment.seed=1,2", "--set=augment.samples=300");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("2 of 2 sweep points succeeded", run.Output);
        Assert.Contains("Verify    executed", run.Output); // once, before the points
        foreach (var (seed, point) in new[] { (1, 0), (2, 1) })
        {
            string log = Directory.GetFiles(Path.Combine(artifacts, "sweep", "logs"), $"slurm-*_{point}.out").Single();
            Assert.Matches(@"Verify +restored \(cache\)", File.ReadAllText(log));
            var local = await Local("Augment", $"augment-{seed}", "--set=augment.samples=300", $"--set=augment.seed={seed}");
            Assert.Equal(local, Outputs(Path.Combine(artifacts, "sweep", $"{point}", "augment")));
        }
    }

    /// <summary>A small random study on the cluster: one-epoch trials of the compact CNN, two Slurm tasks at a time.</summary>
    static string[] SlurmStudy(string name, int trials) =>
    [
        "--executor=slurm", "--set=slurm.max_running=2", "--set=augment.samples=100", "--set=transfer.enabled=false", "--set=train.model=compact",
        "--set=train.epochs=1", "--set=train.threads=1", "--search=random", "--space=train.learning_rate=log(1e-4,1e-2)", $"--trials={trials}", $"--study={name}",
    ];

    [Fact]
    public async Task A_study_on_Slurm_runs_its_trials_as_array_tasks_max_running_at_a_time_and_a_rerun_trains_nothing()
    {
        SlurmFixture.RequireCluster();
        string artifacts = temp["study"];
        string[] study = SlurmStudy("lr", trials: 4);
        var run = await Host(artifacts, null, study);
        Assert.True(run.ExitCode == 0, run.Output);
        // Two batches of max_running trials, each one array job.
        Assert.Contains("(--array=0-1%2)", run.Output);
        Assert.Contains("(--array=2-3%2)", run.Output);
        Assert.Matches(@"Verify +executed", run.Output); // here, once, before the trials

        var done = Pipeline.Search.Study.Read(artifacts, "lr")!;
        Assert.Equal(4, done.Trials.Count);
        foreach (var trial in done.Trials)
        {
            Assert.Equal(Pipeline.Search.TrialState.Complete, trial.State);
            Assert.NotNull(trial.Values["accuracy"]);
            Assert.Equal(1, trial.Epochs);
            string log = File.ReadAllText(Directory.GetFiles(Path.Combine(done.Folder, "logs"), $"slurm-*_{trial.Number}.out").Single());
            Assert.Matches(@"Verify +restored \(cache\)", log);
            Assert.Contains("epoch 1/1: loss", log);
            Assert.True(File.Exists(Path.Combine(done.TrialFolder(trial.Number), "train", StageRecord.FileName)));
        }
        // Recorded in the shared experiment log, named as local trials are.
        Assert.Equal(["lr-0", "lr-1", "lr-2", "lr-3"],
            new Pipeline.Experiments.ExperimentLog(Path.Combine(artifacts, ".cache", "experiments")).All().Select(e => e.Name).Order(StringComparer.Ordinal));

        var again = await Host(artifacts, null, study);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.DoesNotContain("Slurm job", again.Output);
        Assert.DoesNotContain("epoch 1/1", again.Output);
        Assert.Contains("4 trials (4 complete", again.Output);
    }

    [Fact]
    public async Task A_study_whose_host_is_killed_while_its_trials_run_on_Slurm_continues_without_running_a_trial_twice()
    {
        SlurmFixture.RequireCluster();
        string artifacts = temp["killed"];
        string[] study = SlurmStudy("killed", trials: 4);
        string jobFile = Path.Combine(Pipeline.Search.Study.FolderOf(artifacts, "killed"), "slurm-job.txt");
        using (var process = Process.Start(Start(artifacts, null, study))!)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            // Killed once the first batch is submitted: its tasks go on without the host.
            while (!process.HasExited && !File.Exists(jobFile)) await Task.Delay(20);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.True(File.Exists(jobFile), $"the study ended before its first job was submitted:\n{await output}");
        }
        var killed = Pipeline.Search.Study.Read(artifacts, "killed")!;
        Assert.Equal([Pipeline.Search.TrialState.Running, Pipeline.Search.TrialState.Running], killed.Trials.Select(t => t.State));

        var rerun = await Host(artifacts, null, study);
        Assert.True(rerun.ExitCode == 0, rerun.Output);
        Assert.Matches(@"the last run left Slurm job \d+: waiting for it", rerun.Output);
        Assert.DoesNotContain("(--array=0-1", rerun.Output);
        Assert.Contains("(--array=2-3%2)", rerun.Output);
        var done = Pipeline.Search.Study.Read(artifacts, "killed")!;
        Assert.All(done.Trials, t => Assert.Equal(Pipeline.Search.TrialState.Complete, t.State));
        Assert.Equal(killed.Trials.Select(t => t.Assignments), done.Trials.Take(2).Select(t => t.Assignments));
        foreach (var trial in done.Trials) // each ran as one task, once
            Assert.Single(Directory.GetFiles(Path.Combine(done.Folder, "logs"), $"slurm-*_{trial.Number}.out"));
        Assert.False(File.Exists(jobFile));
    }

    [Fact]
    public async Task Ctrl_C_cancels_a_study_s_Slurm_job_and_the_rerun_runs_its_trials_again()
    {
        SlurmFixture.RequireCluster();
        string artifacts = temp["cancelled"];
        string[] study = SlurmStudy("cancelled", trials: 2);
        string jobFile = Path.Combine(Pipeline.Search.Study.FolderOf(artifacts, "cancelled"), "slurm-job.txt");
        string job, rest;
        using (var host = TestHost.StartInterruptible(Start(artifacts, null, study)))
        {
            var output = host.StandardOutput.ReadToEndAsync();
            _ = host.StandardError.ReadToEndAsync();
            while (!host.HasExited && !File.Exists(jobFile)) await Task.Delay(20);
            job = File.Exists(jobFile) ? File.ReadAllText(jobFile).Trim() : "";
            using (var kill = Process.Start("kill", ["-INT", host.Id.ToString()])) await kill.WaitForExitAsync();
            await host.WaitForExitAsync();
            rest = await output;
            Assert.True(host.ExitCode == 1 && job.Length > 0, $"exit code {host.ExitCode}, job '{job}':\n{rest}");
        }
        Assert.Contains($"cancelled (Slurm job {job} too)", rest);
        var squeue = Process.Start(new ProcessStartInfo("squeue", ["-h", "-j", job]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string queued = await squeue.StandardOutput.ReadToEndAsync();
        await squeue.WaitForExitAsync();
        Assert.True(queued.Trim().Length == 0, $"job {job} is still queued: {queued}");

        var rerun = await Host(artifacts, null, study);
        Assert.True(rerun.ExitCode == 0, rerun.Output);
        Assert.All(Pipeline.Search.Study.Read(artifacts, "cancelled")!.Trials, t => Assert.Equal(Pipeline.Search.TrialState.Complete, t.State));
    }

    [Theory]
    [InlineData("--shards=4", "--shards needs --executor=slurm")]
    [InlineData("--executor=pbs", "--executor=pbs: expected local or slurm")]
    [InlineData("--executor=slurm --shards=0", "--shards=0: expected a whole number from 1 to 10000")]
    [InlineData("--shard=4/4", "--shard=4/4: expected I/N with 0 ≤ I < N")]
    [InlineData("--set=slurm.cpus_per_task=0", "slurm.cpus_per_task must be between 1 and 1024, got 0")]
    [InlineData("--set=slurm.time_limit=soon", "slurm.time_limit must be minutes, H:MM:SS")]
    [InlineData("--set=slurm.extra_args=[\"--array=0-9\"]", "slurm.extra_args: --array is set by the executor")]
    public async Task Slurm_mistakes_are_usage_errors_naming_the_option(string args, string message)
    {
        var run = await Host(temp["artifacts"], null, ["--target=Featurize", .. args.Split(' ')]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Output);
        Assert.False(Directory.Exists(Path.Combine(temp["artifacts"], "featurize")));
    }
}

/// <summary>How --shards splits a stage's items, and the array spec sbatch gets: no cluster needed.</summary>
[Trait("Category", "Unit")]
public class ShardTests
{
    [Fact]
    public void Shards_are_contiguous_ranges_that_cover_every_item_once()
    {
        foreach (var (items, shards) in new[] { (600, 4), (70_000, 3), (10, 10), (7, 3), (10_000_000, 100) })
        {
            var ranges = Enumerable.Range(0, shards).Select(i => ItemRange.Shard(items, i, shards)).ToList();
            Assert.Equal(0, ranges[0].Start);
            Assert.Equal(items, ranges[^1].End);
            Assert.All(ranges.Zip(ranges.Skip(1)), p => Assert.Equal(p.First.End, p.Second.Start));
            Assert.True(ranges.Max(r => r.Count) - ranges.Min(r => r.Count) <= 1);
        }
        Assert.Equal("0-3", SlurmCluster.ArraySpec([0, 1, 2, 3]));
        Assert.Equal("0,2-3,7", SlurmCluster.ArraySpec([0, 2, 3, 7]));
    }
}
