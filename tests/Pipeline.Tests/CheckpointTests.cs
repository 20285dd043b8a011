using System.Collections.Concurrent;
using System.Diagnostics;
using Pipeline.Stages;
using Pipeline.Training;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace Pipeline.Tests;

/// <summary>Checkpoint units: crash safety (a real process killed at every step), verification before use, reproducible outputs.</summary>
[Collection(TorchCollection.Name)]
[Trait("Category", "Integration")]
public sealed class CheckpointTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly LabelledTensors train = ProbeTraining.Features(400, seed: 1), validation = ProbeTraining.Features(100, seed: 2);
    readonly Collector log = new();

    public void Dispose()
    {
        train.Dispose();
        validation.Dispose();
        temp.Dispose();
    }

    TrainingResult Train(int epochs, string output, IReadOnlyList<EarlierOutput>? earlier = null) =>
        CheckpointedTraining.Run(ProbeTraining.Parameters(epochs), new TrainingData(train, validation, ProbeTraining.Classes, [ProbeTraining.Dim]),
            new TrainingRun(output, "key", earlier ?? []), log.Logger);

    static string Unit(string output, int epoch, string file) =>
        Path.Combine(output, CheckpointsFolder, CheckpointedTraining.UnitFolder(epoch), file);

    const string CheckpointsFolder = CheckpointedTraining.CheckpointsFolder;

    [Fact]
    public async Task A_run_killed_after_any_checkpoint_step_reruns_to_the_outputs_of_a_straight_run()
    {
        // Straight: two epochs in one go. Crashed: one complete epoch recorded, then a two-epoch run (copy the epoch-1
        // unit, train and save epoch 2, write the outputs) killed after step n, then the same run again.
        string straight = temp["straight"], previous = temp["previous"];
        await Task.WhenAll(Probe(straight, 2), Probe(previous, 1));
        var expected = new ArtifactStore(straight).ReadRecord("train")!;

        int killPoints = 0;
        for (int first = 1; killPoints == first - 1; first += 2)
        {
            // Two kill points at a time: the children spend most of their time starting up.
            var killed = await Task.WhenAll(KillAndRerun(first), KillAndRerun(first + 1));
            killPoints += killed.Count(k => k);
        }
        // At least: make the partial copy, copy 4 files, rename; make the partial unit, save weights and optimizer,
        // history, manifest, rename; model.pt, history.json.
        Assert.True(killPoints >= 13, $"only {killPoints} kill points");

        async Task<bool> KillAndRerun(int step)
        {
            string artifacts = temp[$"kill-{step:D2}"];
            CopyFolder(previous, artifacts);
            var (exit, output) = await Probe(artifacts, 2, killAfterStep: step);
            bool wasKilled = exit != 0;
            if (wasKilled)
            {
                Assert.True(exit == 137, $"step {step}: exit code {exit}, expected SIGKILL (137)\n{output}");
                (exit, output) = await Probe(artifacts, 2);
                Assert.True(exit == 0, $"rerun after a kill at step {step}: exit code {exit}\n{output}");
            }
            var record = new ArtifactStore(artifacts).ReadRecord("train")!;
            AssertSameFiles(Path.Combine(straight, "train"), Path.Combine(artifacts, "train"), $"killed after step {step}\n{output}");
            Assert.Equal(expected.OutputHash, record.OutputHash);
            Directory.Delete(artifacts, recursive: true);
            return wasKilled;
        }
    }

    [Theory]
    [InlineData(CheckpointedTraining.WeightsFile)]
    [InlineData(CheckpointedTraining.OptimizerFile)]
    [InlineData(CheckpointedTraining.HistoryFile)]
    public void A_truncated_newest_checkpoint_is_discarded_with_a_warning_and_the_one_before_resumed(string file)
    {
        string straight = temp["straight"], killed = temp["killed"], resumed = temp["resumed"];
        Train(3, straight);
        Train(2, killed);
        Truncate(Unit(killed, 2, file));
        var before = Snapshot(killed);

        var result = Train(3, resumed, [new EarlierOutput(killed, null)]);

        Assert.Equal(1, result.ResumedFrom);
        Assert.Equal(2, result.Timings.Count);
        Assert.Contains(log.Warnings, w => w.Contains(Path.Combine(killed, CheckpointsFolder, "epoch-002")) && w.Contains(file));
        AssertSameFiles(straight, resumed, "resumed past a truncated checkpoint");
        Assert.Equal(before, Snapshot(killed)); // earlier units are read, never changed
    }

    [Fact]
    public void A_checkpoint_that_differs_from_the_stage_record_is_discarded_even_when_its_manifest_agrees()
    {
        string straight = temp["straight"], previous = temp["previous"], resumed = temp["resumed"];
        Train(3, straight);
        Train(2, previous);
        var recorded = Snapshot(previous);
        // Replaced along with its manifest: only the record can tell.
        Truncate(Unit(previous, 2, CheckpointedTraining.WeightsFile));
        RewriteManifest(previous, 2);

        var result = Train(3, resumed, [new EarlierOutput(previous, recorded)]);

        Assert.Equal(1, result.ResumedFrom);
        Assert.Contains(log.Warnings, w => w.Contains("epoch-002") && w.Contains("stage record"));
        AssertSameFiles(straight, resumed, "resumed past a checkpoint the record disowns");
    }

    [Fact]
    public void A_checkpoint_that_verifies_but_does_not_load_is_discarded()
    {
        string straight = temp["straight"], previous = temp["previous"], resumed = temp["resumed"];
        Train(3, straight);
        Train(2, previous);
        Truncate(Unit(previous, 2, CheckpointedTraining.OptimizerFile));
        RewriteManifest(previous, 2);

        var result = Train(3, resumed, [new EarlierOutput(previous, null)]);

        Assert.Equal(1, result.ResumedFrom);
        Assert.Contains(log.Warnings, w => w.Contains("epoch-002") && w.Contains("does not load"));
        AssertSameFiles(straight, resumed, "resumed past a checkpoint that does not load");
    }

    [Fact]
    public void An_observer_hears_each_epoch_after_its_checkpoint_and_stopping_there_leaves_the_epochs_so_far_resumable()
    {
        string stopped = temp["stopped"], straight = temp["straight"], resumed = temp["resumed"];
        var heard = new List<int>();
        var run = new TrainingRun(stopped, "key", [])
        {
            AfterEpoch = epoch =>
            {
                heard.Add(epoch.Epoch);
                // A reader of the folder (the live report) sees the history so far.
                Assert.Equal(epoch.Epoch, CheckpointedTraining.ReadHistory(Path.Combine(stopped, CheckpointedTraining.HistoryFile)).Count);
                if (epoch.Epoch == 2) throw new OperationCanceledException("stopped by the observer");
            },
        };
        Assert.Throws<OperationCanceledException>(() => CheckpointedTraining.Run(ProbeTraining.Parameters(3),
            new TrainingData(train, validation, ProbeTraining.Classes, [ProbeTraining.Dim]), run, log.Logger));
        Assert.Equal(new[] { 1, 2 }, heard);

        Train(3, straight);
        var result = Train(3, resumed, [new EarlierOutput(stopped, null)]);
        Assert.Equal(2, result.ResumedFrom);
        AssertSameFiles(straight, resumed, "a run stopped after epoch 2 and resumed");
    }

    [Fact]
    public void Two_identical_trainings_write_byte_identical_folders_and_keep_timings_out_of_them()
    {
        string a = temp["a"], b = temp["b"];
        var first = Train(2, a);
        var second = Train(2, b);
        AssertSameFiles(a, b, "two identical trainings");
        Assert.Equal(2, first.Timings.Count);
        Assert.DoesNotContain(Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories), f => Path.GetFileName(f) == "timings.json");
        Assert.Equal(first.History, second.History);
    }

    [Fact]
    public void Fewer_epochs_copy_the_earlier_units_up_to_that_epoch_and_train_nothing()
    {
        string straight = temp["straight"], three = temp["three"], one = temp["one"];
        Train(1, straight);
        Train(3, three);
        var result = Train(1, one, [TrainingStage.Earlier(three)]);
        Assert.Equal(1, result.ResumedFrom);
        Assert.Empty(result.Timings);
        AssertSameFiles(straight, one, "one epoch taken from a three-epoch run");
    }

    /// <summary>
    /// Outputs hold results only: a code change (another code hash, so another resume key) that trains the same weights
    /// gives the same output files and hash, so the stage reading them stays up to date; and it resumes nothing made
    /// under the other key, while the same key (from the record) resumes.
    /// </summary>
    [Fact]
    public async Task A_code_change_that_trains_the_same_weights_leaves_the_output_hash_and_the_next_stage_as_they_were()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        var classes = Enumerable.Range(0, ProbeTraining.Classes).Select(c => $"class {c}").ToList();
        StageDefinition Definition(string code, int epochs) =>
            new("train", System.Text.Json.Nodes.JsonNode.Parse($$"""{"train.epochs": {{epochs}}}"""),
                new SortedDictionary<string, string> { ["src/Trainer.cs"] = ContentHash.OfText(code) }, [])
            { ResumeParameters = System.Text.Json.Nodes.JsonNode.Parse("{}") };
        Task<StageRecord> RunTrain(string code, int epochs) => store.RunAsync(Definition(code, epochs), (workspace, cancellation) =>
        {
            foreach (var (tool, version) in TorchRuntime.Versions) workspace.Tools[tool] = version; // as TrainingStage.Prepare does
            TrainingStage.Run(ProbeTraining.Parameters(epochs), new TrainingData(train, validation, ProbeTraining.Classes, [ProbeTraining.Dim]),
                classes, workspace, log.Logger, cancellation);
            return Task.CompletedTask;
        });
        var next = new StageDefinition("evaluate", new { }, new UpstreamInput("train"));

        var before = await RunTrain("code before the refactor", 2);
        await store.RunAsync(next, (w, _) => File.WriteAllTextAsync(w.PathOf("report.md"), "scores\n"));
        var after = await RunTrain("code after the refactor", 2);

        Assert.NotEqual(before.Fingerprint, after.Fingerprint);
        Assert.Equal(0.0, StageWorkspace.Number(after.Metrics["resumed_from_epoch"])); // the checkpoints of the other code are not resumed
        Assert.Equal(2.0, StageWorkspace.Number(after.Metrics["epochs_trained"]));
        Assert.Equal(before.OutputHash, after.OutputHash);
        Assert.DoesNotContain(store.Outputs("train")!, o => o.Path.EndsWith(CheckpointedTraining.KeyFile));
        Assert.True(store.Check(next).UpToDate, store.Check(next).Reason);

        var longer = await RunTrain("code after the refactor", 3); // the same key, as the record tells it: resumed
        Assert.Equal(2.0, StageWorkspace.Number(longer.Metrics["resumed_from_epoch"]));
        Assert.Equal(1.0, StageWorkspace.Number(longer.Metrics["epochs_trained"]));
    }

    static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.SetLength(stream.Length / 2);
    }

    /// <summary>Makes a tampered unit's manifest agree with its files again.</summary>
    static void RewriteManifest(string output, int epoch)
    {
        string path = Unit(output, epoch, CheckpointedTraining.ManifestFile);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        foreach (var file in new[] { CheckpointedTraining.WeightsFile, CheckpointedTraining.OptimizerFile, CheckpointedTraining.HistoryFile })
            manifest["sha256"]![file] = ContentHash.OfFile(Unit(output, epoch, file));
        File.WriteAllText(path, manifest.ToJsonString());
    }

    /// <summary>Every file's SHA-256 by relative path, as the stage engine records them.</summary>
    static Dictionary<string, string> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f).Replace('\\', '/'), ContentHash.OfFile, StringComparer.Ordinal);

    /// <summary>Same relative paths with the same bytes, the engine's record (timings, start time) aside.</summary>
    static void AssertSameFiles(string expected, string actual, string what)
    {
        static List<string> Files(string folder) => [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f)).Where(f => f != StageRecord.FileName).Order(StringComparer.Ordinal)];
        var files = Files(expected);
        Assert.True(files.SequenceEqual(Files(actual)), $"{what}: files [{string.Join(", ", Files(actual))}], expected [{string.Join(", ", files)}]");
        foreach (var file in files)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, file))),
                $"{what}: {file} differs");
    }

    static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>Runs tests/TrainProbe: a real process, so a kill is a real kill.</summary>
    static async Task<(int Exit, string Output)> Probe(string artifacts, int epochs, int? killAfterStep = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "TrainProbe.dll"), artifacts, epochs.ToString() }) start.ArgumentList.Add(arg);
        if (killAfterStep is { } step) start.Environment[CrashHook.Variable] = $"checkpoint#{step}";
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var error = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (child.ExitCode, await output + await error);
    }

    internal sealed class Collector : ILogEventSink
    {
        readonly ConcurrentQueue<string> warnings = new();

        public ILogger Logger { get; }

        public Collector() => Logger = new LoggerConfiguration().WriteTo.Sink(this).CreateLogger();

        public IReadOnlyCollection<string> Warnings => warnings;

        public void Emit(LogEvent logEvent)
        {
            if (logEvent.Level >= LogEventLevel.Warning) warnings.Enqueue(logEvent.RenderMessage());
        }
    }
}
