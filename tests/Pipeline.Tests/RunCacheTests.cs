using Build.Host;
using Pipeline.Experiments;
using Pipeline.Stages;
using System.Text.Json.Nodes;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class RunCacheTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly List<string> warnings = [];
    readonly ArtifactStore store;
    int runs;

    public RunCacheTests() => store = new ArtifactStore(temp["artifacts"]) { Cache = new RunCache(temp["artifacts/.cache"], warnings.Add) };

    public void Dispose() => temp.Dispose();

    StageDefinition Stage(double rate) => new("train", new { rate });

    /// <summary>Brings the stage up to date through the engine's one decision path, as the host does.</summary>
    async Task<string> Bring(double rate)
    {
        var runner = new StageRunner(store);
        var definition = Stage(rate);
        var (_, done) = await runner.CarryOutAsync(definition, await runner.DecideAsync(definition, force: false), (w, _) =>
        {
            runs++;
            return File.WriteAllTextAsync(w.PathOf("model.txt"), $"weights for {rate}\n");
        });
        return done switch { StageAction.UpToDate => "up to date", StageAction.RestoreLocal => "restored", _ => "executed" };
    }

    string Model => File.ReadAllText(Path.Combine(store.StageDirectory("train"), "model.txt"));

    /// <summary>A resumable stage of <paramref name="epochs"/> (all but the epochs make its resume key).</summary>
    static StageDefinition Resumable(int epochs) => new("train", new { rate = 0.1, epochs }) { ResumeParameters = new JsonObject { ["rate"] = 0.1 } };

    [Fact]
    public async Task What_a_stopped_resumable_run_wrote_is_offered_to_a_later_run_under_its_key_in_another_folder_then_dropped()
    {
        // Stopped after writing two epochs (as a pruned trial is): the engine keeps them in the run cache as well.
        await Assert.ThrowsAsync<OperationCanceledException>(() => store.RunAsync(Resumable(3), async (w, _) =>
        {
            await File.WriteAllTextAsync(w.PathOf("epoch-1.txt"), "1");
            await File.WriteAllTextAsync(w.PathOf("epoch-2.txt"), "2");
            throw new OperationCanceledException();
        }));
        // A stopped run with less to show leaves it as it was.
        await Assert.ThrowsAsync<OperationCanceledException>(() => store.RunAsync(Resumable(3), (w, _) => throw new OperationCanceledException()));

        // Another artifacts folder served by the same cache (a Slurm trial's), under the same resume key.
        var other = new ArtifactStore(temp["other"]) { Cache = store.Cache };
        string[]? offered = null;
        await other.RunAsync(Resumable(4), (w, _) =>
        {
            offered = [.. w.Leftovers.SelectMany(f => Directory.GetFiles(f)).Select(f => new FileInfo(f).Name).Order(StringComparer.Ordinal)];
            return File.WriteAllTextAsync(w.PathOf("model.txt"), "4 epochs");
        });
        Assert.Equal(["epoch-1.txt", "epoch-2.txt"], offered!);
        Assert.Null(store.Cache!.Unfinished("train", other.ReadRecord("train")!.ResumeKey!)); // recorded under its key: dropped
        Assert.Empty(warnings);
    }

    [Fact]
    public async Task Switching_parameters_back_restores_the_earlier_run_instead_of_running_it()
    {
        Assert.Equal("executed", await Bring(0.001));
        Assert.Equal("executed", await Bring(0.002));
        Assert.Equal("restored", await Bring(0.001));
        Assert.Equal("weights for 0.001\n", Model);
        Assert.Equal(2, runs);
        Assert.True(store.Check(Stage(0.001)).UpToDate); // the restored record is a normal, verified record
        Assert.Empty(warnings);
    }

    [Fact]
    public async Task A_cache_entry_with_one_flipped_byte_is_never_restored()
    {
        await Bring(0.001);
        await Bring(0.002);
        var run = store.Cache!.Find(store.Fingerprint(Stage(0.001)).Hash)!;
        string sha = store.Cache.Outputs(run)!.Single().Sha256;
        string cached = Path.Combine(store.Cache.Root, "objects", sha[..2], sha);
        // A fresh copy, so the flip does not reach the stage folder through a hard link.
        byte[] bytes = File.ReadAllBytes(cached);
        bytes[3] ^= 1;
        File.Delete(cached);
        File.WriteAllBytes(cached, bytes);

        Assert.Equal("executed", await Bring(0.001));
        Assert.Equal("weights for 0.001\n", Model);
        Assert.Contains(warnings, w => w.Contains("dropping entry") && w.Contains("model.txt") && w.Contains("fails its hash"));
        Assert.NotNull(store.Cache.Find(store.Fingerprint(Stage(0.001)).Hash)); // kept again, from the new run's good copy
        Assert.Equal("restored", await Bring(0.002).ContinueWith(_ => Bring(0.001)).Unwrap());
    }

    [Fact]
    public async Task A_cached_run_of_the_earlier_format_is_dropped_saying_why_and_the_stage_runs()
    {
        await Bring(0.001);
        await Bring(0.002);
        string run = Path.Combine(store.Cache!.Root, "runs", store.Fingerprint(Stage(0.001)).Hash + ".json");
        var json = JsonNode.Parse(File.ReadAllText(run))!.AsObject();
        json.Remove("format");
        File.WriteAllText(run, json.ToJsonString());
        Assert.Equal("executed", await Bring(0.001));
        Assert.Contains(warnings, w => w.Contains("dropping entry") && w.Contains(StageRecord.OlderFormat));
    }

    [Fact]
    public async Task A_cache_that_cannot_be_written_never_fails_the_run()
    {
        File.WriteAllText(temp["not-a-folder"], "");
        var cacheless = new ArtifactStore(temp["other"]) { Cache = new RunCache(temp["not-a-folder"], warnings.Add) };
        await cacheless.RunAsync(Stage(1), (w, _) => File.WriteAllTextAsync(w.PathOf("model.txt"), "x"));
        Assert.True(cacheless.Check(Stage(1)).UpToDate);
        Assert.Contains(warnings, w => w.Contains("cannot keep train's run"));
    }

    [Fact]
    public async Task Garbage_collection_evicts_least_recently_used_runs_but_never_a_kept_one()
    {
        for (int i = 1; i <= 3; i++) await Bring(i);
        var fingerprints = Enumerable.Range(1, 3).Select(i => store.Fingerprint(Stage(i)).Hash).ToList();
        var (evicted, _) = store.Cache!.Collect(0, new HashSet<string> { fingerprints[0] });
        Assert.Equal(2, evicted);
        Assert.NotNull(store.Cache.Find(fingerprints[0]));
        Assert.Null(store.Cache.Find(fingerprints[1]));
        Assert.Equal("restored", await Bring(1));
    }

    [Fact]
    public void A_sweep_is_the_product_of_its_lists_and_a_bad_one_is_named()
    {
        var points = Sweep.Points(["train.learning_rate=0.0005,0.001", "train.batch_size=256,512"]);
        Assert.Equal(4, points.Count);
        Assert.Equal(["train.learning_rate=0.0005", "train.batch_size=512"], points[1]);
        Assert.Equal(["augment.operations=[{\"op\":\"invert\"}]"], Sweep.Points(["augment.operations=[{\"op\":\"invert\"}]"])[0]);
        Assert.Contains("--sweep learning_rate=1: expected section.key=value1,value2", Assert.Throws<UsageException>(() => Sweep.Points(["learning_rate=1"])).Message);
    }

    static Experiment Experiment(string id, string? name, double rate, double accuracy, int minutes) =>
        new(id, name, new DateTimeOffset(2026, 11, 24, 6, minutes, 0, TimeSpan.Zero),
            new(StringComparer.Ordinal) { ["train.learning_rate"] = rate, ["train.epochs"] = 5 },
            new(StringComparer.Ordinal) { ["accuracy"] = accuracy, ["loss"] = 0.05 }, new(StringComparer.Ordinal));

    [Fact]
    public void The_experiments_table_shows_the_parameters_that_differ_and_sorts_best_first()
    {
        var table = ExperimentTable.Render([Experiment("aaaa1111", "baseline", 0.001, 0.9837, 1), Experiment("bbbb2222", null, 0.002, 0.9850, 2)], sortBy: "accuracy");
        var lines = table.Split('\n');
        Assert.StartsWith("id        name      when              train.learning_rate  accuracy  loss", lines[0]);
        Assert.StartsWith("bbbb2222", lines[2]);
        Assert.DoesNotContain("train.epochs", table); // the same in every row
        Assert.Contains("train.epochs", ExperimentTable.Render([Experiment("aaaa1111", null, 0.001, 0.98, 1)], allParameters: true));
        Assert.Equal("id,name,when,train.learning_rate,accuracy,loss\naaaa1111,baseline,2026-11-24 06:01,0.001,0.9837,0.0500",
            ExperimentTable.Render([Experiment("aaaa1111", "baseline", 0.001, 0.9837, 1), Experiment("bbbb2222", null, 0.002, 0.985, 2)], "csv").Split('\n')[..2].Aggregate((x, y) => x + "\n" + y));
        var diff = ExperimentTable.Diff(Experiment("aaaa1111", "baseline", 0.001, 0.9837, 1), Experiment("bbbb2222", null, 0.002, 0.9850, 2));
        Assert.Contains("train.learning_rate  0.001     0.002", diff);
        Assert.Contains("accuracy  0.9837    0.9850    +0.0013", diff);
    }

    [Fact]
    public void An_unknown_experiment_is_a_clear_error()
    {
        var log = new ExperimentLog(temp["experiments"]);
        log.Record(Experiment("aaaa1111", "baseline", 0.001, 0.98, 1));
        Assert.Equal("baseline", log.Find("aaaa").Name);
        Assert.Equal("no experiment 'nope' (experiments: baseline)", Assert.Throws<ExperimentException>(() => log.Find("nope")).Message);
    }
}
