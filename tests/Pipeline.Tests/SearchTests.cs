using System.Diagnostics;
using System.Text.Json.Nodes;
using Build.Host;
using Pipeline.Search;

namespace Pipeline.Tests;

/// <summary>src/Pipeline/Search and the host's --search options: the space, the samplers, the pruners, Pareto fronts, studies.</summary>
[Trait("Category", "Unit")]
public class SearchTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData("train.learning_rate=float(0.1,0.1)", "lo must be below hi")]
    [InlineData("train.learning_rate=float(0.2,0.1)", "lo must be below hi")]
    [InlineData("train.learning_rate=log(0,0.1)", "log needs bounds above 0")]
    [InlineData("train.learning_rate=log(-1,0.1)", "log needs bounds above 0")]
    [InlineData("train.learning_rate=float()", "an empty range")]
    [InlineData("train.batch_size=int(1.5,8)", "int bounds must be whole numbers")]
    [InlineData("train.batch_size=choice(32,32)", "a value is listed twice")]
    [InlineData("train.learning_rate=normal(0,1)", "unknown kind 'normal'")]
    [InlineData("learning_rate=float(0,1)", "the key must be section.key")]
    [InlineData("train.learning_rate=float(a,1)", "'a' is not a number")]
    public void A_bad_dimension_is_refused_naming_it(string entry, string message)
    {
        var e = Assert.Throws<SearchException>(() => Dimension.Parse(entry));
        Assert.Contains($"--space {entry}", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_dimension_turns_a_point_into_the_assignment_of_its_key()
    {
        Assert.Equal("train.batch_size=256", Dimension.Parse("train.batch_size=choice(128,256,512)").Assignment(1));
        Assert.Equal("train.learning_rate_schedule=\"one_cycle\"", Dimension.Parse("train.learning_rate_schedule=choice(exponential,one_cycle)").Assignment(1));
        Assert.Equal("augment.samples=70", Dimension.Parse("augment.samples=int(0,100)").Assignment(70));
        Assert.Equal("log(0.0001,0.01)", Dimension.Parse("train.learning_rate=log(1e-4,1e-2)").Text);
    }

    static readonly SearchSpace Space = SearchSpace.Parse(["a.x=float(-5,10)", "a.y=log(0.001,10)", "a.n=int(0,20)", "a.c=choice(1,2,3)"]);

    /// <summary>A bowl with its minimum inside the space, at x = 2, y = 0.1, n = 7, c = 3 (index 2).</summary>
    static double Bowl(IReadOnlyList<double> p) =>
        Math.Pow(p[0] - 2, 2) / 25 + Math.Pow(Math.Log10(p[1]) + 1, 2) / 4 + Math.Pow(p[2] - 7, 2) / 100 + (p[3] == 2 ? 0 : 0.5);

    static List<Observation> Run(ISampler sampler, int trials)
    {
        var history = new List<Observation>();
        for (int i = 0; i < trials; i++)
        {
            var point = sampler.Propose(Space, history, i);
            history.Add(new Observation(point, TrialState.Complete, [Bowl(point)]));
        }
        return history;
    }

    [Theory]
    [InlineData("random")]
    [InlineData("tpe")]
    public void The_same_seed_proposes_the_same_trials_inside_the_space_and_another_seed_others(string name)
    {
        var first = Run(Samplers.Create(name, 3), 20);
        var again = Run(Samplers.Create(name, 3), 20);
        var other = Run(Samplers.Create(name, 4), 20);
        Assert.Equal(first.Select(o => o.Point), again.Select(o => o.Point));
        Assert.NotEqual(first.Select(o => o.Point), other.Select(o => o.Point));
        foreach (var point in first.Select(o => o.Point))
            for (int d = 0; d < Space.Dimensions.Count; d++)
            {
                var dimension = Space.Dimensions[d];
                Assert.InRange(point[d], dimension.Low, dimension.High);
                if (dimension.Kind is DimensionKind.Int or DimensionKind.Choice) Assert.Equal(Math.Round(point[d]), point[d]);
            }
    }

    [Fact]
    public void TPE_finds_a_better_point_than_random_search_in_as_many_trials()
    {
        double MedianBest(string name) => Enumerable.Range(0, 9).Select(seed => Run(Samplers.Create(name, seed), 40).Min(o => o.Losses![0]))
            .Order().ElementAt(4);
        double tpe = MedianBest("tpe"), random = MedianBest("random");
        Assert.True(tpe < random, $"median best: TPE {tpe}, random {random}");
    }

    [Fact]
    public void The_median_pruner_stops_a_trial_behind_the_median_only_after_its_warmup_and_startup_trials()
    {
        var pruner = new MedianPruner(warmupEpochs: 1, startupTrials: 4);
        IReadOnlyList<IReadOnlyDictionary<int, double>> earlier = [.. new[] { -0.90, -0.92, -0.94, -0.96 }.Select(l => new Dictionary<int, double> { [1] = l, [2] = l - 0.01 })];
        var behind = new Dictionary<int, double> { [1] = -0.5, [2] = -0.6 };
        Assert.Null(pruner.Prune(1, behind, earlier)); // the warm-up epoch
        Assert.NotNull(pruner.Prune(2, behind, earlier));
        Assert.Null(pruner.Prune(2, behind, earlier.Take(3).ToList())); // fewer than 4 earlier trials at epoch 2
        Assert.Null(pruner.Prune(2, new Dictionary<int, double> { [1] = -0.95, [2] = -0.95 }, earlier));
    }

    [Fact]
    public void The_halving_pruner_keeps_only_the_best_third_at_its_rungs()
    {
        var pruner = new HalvingPruner(warmupEpochs: 1, eta: 3);
        Assert.Equal([2, 6, 18], Enumerable.Range(1, 20).Where(pruner.IsRung));
        IReadOnlyList<IReadOnlyDictionary<int, double>> earlier = [.. new[] { -0.9, -0.8, -0.7, -0.6, -0.5 }.Select(l => new Dictionary<int, double> { [2] = l })];
        Assert.Null(pruner.Prune(2, new Dictionary<int, double> { [2] = -0.85 }, earlier)); // second of six: within the best 2
        Assert.NotNull(pruner.Prune(2, new Dictionary<int, double> { [2] = -0.75 }, earlier));
        Assert.Null(pruner.Prune(3, new Dictionary<int, double> { [3] = -0.1 }, earlier)); // no rung
    }

    [Fact]
    public void Pareto_fronts_rank_the_points_no_other_point_beats()
    {
        // (error, size): three on the front, one behind (0.2, 5) only, one behind that too.
        Assert.Equal([0, 0, 0, 1, 2], Pareto.Fronts([[0.1, 9], [0.2, 5], [0.4, 1], [0.3, 6], [0.5, 7]]));
    }

    static StudyDefinition Definition(string space) => new(new(StringComparer.Ordinal) { ["train.learning_rate"] = space }, "tpe", 0, ["accuracy:max"], null, []);

    [Fact]
    public void A_study_is_read_back_as_saved_and_refuses_another_space()
    {
        string artifacts = temp["artifacts"];
        var study = Study.OpenOrCreate(artifacts, "lr", Definition("log(0.0001,0.01)"));
        study.Trials.Add(new TrialRecord { Number = 0, Point = [0.001], Assignments = ["train.learning_rate=0.001"], State = TrialState.Complete,
            Values = new(StringComparer.Ordinal) { ["accuracy"] = 0.97 }, History = new() { [1] = new(StringComparer.Ordinal) { ["val_accuracy"] = 0.96 } } });
        study.Save();

        var read = Study.OpenOrCreate(artifacts, "lr", Definition("log(0.0001,0.01)"));
        Assert.Equal(TrialState.Complete, Assert.Single(read.Trials).State);
        Assert.Equal(0.97, read.Trials[0].Values["accuracy"]);
        Assert.Equal(1, read.Trials[0].Epochs);
        var e = Assert.Throws<SearchException>(() => Study.OpenOrCreate(artifacts, "lr", Definition("log(0.0001,0.1)")));
        Assert.Contains("--study=lr exists with another definition", e.Message);
        Assert.Contains("train.learning_rate", e.Message);
    }

    /// <summary>A study over <see cref="Space"/> with twelve complete trials (random points, accuracy from the bowl), as the Slurm host builds batches on.</summary>
    Study Finished(string name, int seed)
    {
        var space = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var d in Space.Dimensions) space[d.Key] = d.Text;
        var study = Study.OpenOrCreate(temp[name], name, new StudyDefinition(space, "tpe", seed, ["accuracy:max"], null, []));
        var random = new RandomSampler(99);
        for (int i = 0; i < 12; i++)
        {
            var point = random.Propose(Space, [], i);
            study.Trials.Add(new TrialRecord { Number = i, Point = point, Assignments = Space.Assignments(point), State = TrialState.Complete,
                Values = new(StringComparer.Ordinal) { ["accuracy"] = 1 - Bowl(point) / 10 } });
        }
        return study;
    }

    [Fact]
    public void A_batch_of_TPE_proposals_holds_distinct_running_trials_and_the_same_seed_proposes_the_same_batch()
    {
        List<double[]> Batch(string name, int seed)
        {
            var study = Finished(name, seed);
            var sampler = new TpeSampler(seed);
            return [.. Enumerable.Range(0, 4).Select(_ => study.Propose(sampler, Space))
                .Select(t => { Assert.Equal(TrialState.Running, t.State); Assert.Equal(Space.Assignments(t.Point), t.Assignments); return t.Point; })];
        }
        var batch = Batch("a", 3);
        Assert.Equal(4, batch.Select(p => string.Join(",", p)).Distinct().Count());
        Assert.Equal(batch, Batch("b", 3));
        Assert.NotEqual(batch, Batch("c", 4));

        // With no trial finished, a batch is the random start-up trials a study proposes one by one.
        var empty = Study.OpenOrCreate(temp["d"], "d", Definition("log(0.0001,0.01)"));
        var random = new RandomSampler(5);
        var proposed = Enumerable.Range(0, 4).Select(_ => empty.Propose(random, Space).Point).ToList();
        Assert.Equal(Enumerable.Range(0, 4).Select(i => random.Propose(Space, [], i)), proposed);
    }

    [Fact]
    public void A_trial_running_apart_writes_its_own_file_which_is_read_back()
    {
        var study = Finished("apart", 0);
        Assert.Null(study.ReadTrial(12));
        var trial = study.Propose(new TpeSampler(0), Space) with { History = new() { [1] = new(StringComparer.Ordinal) { ["val_accuracy"] = 0.5 } } };
        study.WriteTrial(trial);
        var read = study.ReadTrial(12)!;
        Assert.Equal((TrialState.Running, 0.5), (read.State, read.History[1]["val_accuracy"]));
        Assert.Equal(Path.Combine(Study.FolderOf(temp["apart"], "apart"), "trials", "12", Study.TrialFileName), Path.Combine(study.TrialFolder(12), Study.TrialFileName));
        Assert.True(File.Exists(Path.Combine(study.TrialFolder(12), Study.TrialFileName)));
    }

    [Fact]
    public void With_two_objectives_the_front_holds_the_trials_no_other_beats_and_a_pruned_trial_teaches_by_its_last_epoch()
    {
        var study = Study.OpenOrCreate(temp["artifacts"], "size", new StudyDefinition(new(StringComparer.Ordinal) { ["train.model"] = "choice(compact,reference)" },
            "tpe", 0, ["accuracy:max", "parameters:min"], "median", []));
        TrialRecord Complete(int number, double accuracy, double parameters) => new()
        {
            Number = number, Point = [0], State = TrialState.Complete,
            Values = new(StringComparer.Ordinal) { ["accuracy"] = accuracy, ["parameters"] = parameters },
        };
        study.Trials.AddRange([Complete(0, 0.99, 90_000), Complete(1, 0.97, 20_000), Complete(2, 0.96, 50_000),
            new TrialRecord { Number = 3, Point = [1], State = TrialState.Pruned, History = new() { [1] = new(StringComparer.Ordinal) { ["val_accuracy"] = 0.5 }, [2] = new(StringComparer.Ordinal) { ["val_accuracy"] = 0.6 } } }]);
        Assert.Equal([0, 1], study.Front().Select(t => t.Number));
        var pruned = study.Observations()[3];
        Assert.Equal((TrialState.Pruned, 2, -0.6), (pruned.State, pruned.Step, pruned.Losses![0]));
        Assert.Contains("Pareto front of accuracy:max, parameters:min (marked *): trials 0, 1", StudyReport.Render(study, "table"));
    }

    [Theory]
    [InlineData(new[] { "--search=tpe", "--trials=0", "--space=train.learning_rate=log(1e-4,1e-2)" }, "--trials=0")]
    [InlineData(new[] { "--search=grid", "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)" }, "--search=grid")]
    [InlineData(new[] { "--search=tpe", "--trials=4" }, "the search space is empty")]
    [InlineData(new[] { "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)" }, "add --search=random|tpe")]
    [InlineData(new[] { "--search=tpe", "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)", "--prune=median", "--objective=parameters:min" }, "is not measured per epoch")]
    [InlineData(new[] { "--search=tpe", "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)", "--objective=speed:max" }, "--objective=speed:max")]
    [InlineData(new[] { "--search=tpe", "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)", "--sweep=train.epochs=1,2" }, "give one")]
    [InlineData(new[] { "--study=a/b", "--target=Experiments" }, "--study=a/b")]
    [InlineData(new[] { "--trial=1" }, "--trial runs one trial of a study as the study's file holds it: it needs --study")]
    [InlineData(new[] { "--trial=1", "--study=lr", "--executor=slurm" }, "takes no --search, --executor=slurm")]
    [InlineData(new[] { "--trial=1", "--study=lr", "--search=tpe", "--trials=4", "--space=train.learning_rate=log(1e-4,1e-2)" }, "takes no --search")]
    [InlineData(new[] { "--trial=-1", "--study=lr" }, "--trial=-1: expected a whole number")]
    public void Bad_search_options_are_usage_errors_naming_the_option(string[] args, string message) =>
        Assert.Contains(message, Assert.Throws<UsageException>(() => CommandLine.Parse(args)).Message);

    [Fact]
    public void A_search_file_gives_the_search_and_options_override_it()
    {
        string file = temp["search.json"];
        File.WriteAllText(file, new JsonObject
        {
            ["search"] = "random", ["trials"] = 8, ["seed"] = 5, ["prune"] = "median",
            ["space"] = new JsonObject { ["train.learning_rate"] = "log(1e-4,1e-2)", ["train.batch_size"] = "choice(128,256)" },
        }.ToJsonString());
        var search = CommandLine.Parse([$"--search-file={file}", "--trials=12", "--space=train.batch_size=choice(64,128)"]).Search!;
        Assert.Equal(("random", 12, 5, "median"), (search.Sampler, search.Trials, search.Seed, search.Prune));
        Assert.Equal("choice(64,128)", search.Space.Canonical()["train.batch_size"]);
        Assert.Equal("log(0.0001,0.01)", search.Space.Canonical()["train.learning_rate"]);
        Assert.Equal("accuracy:max", Assert.Single(search.Objectives).ToString());
    }
}

/// <summary>A study run by the host: bound before it runs, killed mid-trial and continued.</summary>
[Trait("Category", "Integration")]
public class StudyHostTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string[] Arguments(string artifacts, params string[] more) =>
    [
        $"--artifacts={artifacts}", $"--mirror={temp["mirror"]}", $"--set=download.dataset={temp["tiny-mnist.json"]}", "--set=verify.validation=300",
        "--set=augment.samples=100", "--set=transfer.enabled=false", "--set=train.model=compact", "--set=train.epochs=2", "--set=train.threads=1",
        "--search=random", "--space=train.learning_rate=log(1e-4,1e-2)", "--study=lr", .. more,
    ];

    [Theory]
    [InlineData("--space=train.nonsense=float(0,1)", "train.nonsense")]
    [InlineData("--space=train.batch_size=choice(0,64)", "train.batch_size=0 does not bind")]
    [InlineData("--space=predict.top=int(1,5)", "shapes no stage")]
    [InlineData("--prune=median", "no epoch to prune at")]
    public async Task A_space_that_does_not_bind_stops_the_study_before_any_trial_runs(string option, string message)
    {
        string artifacts = temp["bad"];
        var run = await HostTests.Host($"--artifacts={artifacts}", $"--mirror={TestHost.MnistMirror}", "--set=train.epochs=1", "--search=random",
            "--trials=2", "--space=train.learning_rate=log(1e-4,1e-2)", option);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.False(Directory.Exists(Path.Combine(artifacts, "studies")));
    }

    [Fact]
    public async Task A_study_killed_mid_trial_continues_without_training_a_finished_trial_again()
    {
        TinyMnist.Write(temp["mirror"], temp["tiny-mnist.json"], train: 1000, test: 200);
        string artifacts = temp["artifacts"];
        using (var process = Process.Start(HostTests.HostStart(Arguments(artifacts, "--trials=3")))!)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            // Killed once the second trial has committed its epoch-1 checkpoint (the study records the epoch after that).
            while (!process.HasExited && !(Study.Read(artifacts, "lr") is { } running && running.Trials.Count == 2 && running.Trials[1].Epochs == 1))
                await Task.Delay(20);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode != 0, $"the study ended before it could be killed:\n{await output}");
        }
        var killed = Study.Read(artifacts, "lr")!;
        Assert.Equal([TrialState.Complete, TrialState.Running], killed.Trials.Select(t => t.State));

        var rerun = await HostTests.Host(Arguments(artifacts, "--trials=3"));
        Assert.True(rerun.ExitCode == 0, rerun.Output + rerun.Error);
        Assert.DoesNotContain("trial 1/3:", rerun.Output);
        Assert.Contains("trial 2/3:", rerun.Output);
        Assert.Contains("resuming from the epoch-1 checkpoint", rerun.Output);
        // The killed trial trains its second epoch, the third trial both: the first trains none.
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(rerun.Output, @"epoch [12]/2: loss"));
        var done = Study.Read(artifacts, "lr")!;
        Assert.All(done.Trials, t => Assert.Equal(TrialState.Complete, t.State));
        Assert.Equal(3, done.Trials.Count);
        Assert.Equal((killed.Trials[0].Experiment, killed.Trials[0].Values["accuracy"]), (done.Trials[0].Experiment, done.Trials[0].Values["accuracy"]));
        Assert.True(File.Exists(Path.Combine(Study.FolderOf(artifacts, "lr"), "history.png")));
        Assert.True(File.Exists(Path.Combine(Study.FolderOf(artifacts, "lr"), "parameter-train.learning_rate.png")));

        // The same command again runs nothing.
        var again = await HostTests.Host(Arguments(artifacts, "--trials=3"));
        Assert.Equal(0, again.ExitCode);
        Assert.DoesNotContain("== study", again.Output);
        Assert.Contains("3 trials (3 complete", again.Output);
    }

    [Fact]
    public async Task A_later_run_of_a_pruned_point_continues_from_its_checkpoint_after_another_training_was_recorded()
    {
        TinyMnist.Write(temp["mirror"], temp["tiny-mnist.json"], train: 1000, test: 200);
        string artifacts = temp["pruned"];
        string[] run =
        [
            $"--artifacts={artifacts}", $"--mirror={temp["mirror"]}", $"--set=download.dataset={temp["tiny-mnist.json"]}", "--set=verify.validation=300",
            "--set=augment.samples=100", "--set=transfer.enabled=false", "--set=train.model=compact", "--set=train.epochs=3", "--set=train.threads=1",
        ];
        // A seed whose first trial learns (0.003) and whose second barely moves (1e-6): the halving pruner stops the second at its rung, epoch 2.
        const string lr = "train.learning_rate=choice(0.003,0.000001)";
        var space = SearchSpace.Parse([lr]);
        int seed = Enumerable.Range(0, 100).First(s => new RandomSampler(s).Propose(space, [], 0)[0] == 0 && new RandomSampler(s).Propose(space, [], 1)[0] == 1);
        var study = await HostTests.Host([.. run, "--search=random", $"--space={lr}", "--trials=2", $"--seed={seed}", "--prune=halving", "--study=halving"]);
        Assert.True(study.ExitCode == 0, study.Output + study.Error);
        var pruned = Study.Read(artifacts, "halving")!.Trials[1];
        Assert.Equal((TrialState.Pruned, 2), (pruned.State, pruned.Epochs));

        // Another point's training is recorded: what interrupted runs left in .staging goes, as after the next trial.
        var other = await HostTests.Host([.. run, "--set=train.learning_rate=0.002", "--set=train.epochs=1"]);
        Assert.True(other.ExitCode == 0, other.Output + other.Error);
        Assert.Empty(Directory.GetDirectories(Path.Combine(artifacts, ".staging"), "train*"));

        // The pruned point, as a plain run: its two epochs come from the checkpoints the trial left, the third is trained.
        var later = await HostTests.Host([.. run, .. pruned.Assignments.Select(a => $"--set={a}")]);
        Assert.True(later.ExitCode == 0, later.Output + later.Error);
        Assert.Contains("resuming from the epoch-2 checkpoint", later.Output);
        Assert.Equal(["epoch 3/3: loss"], System.Text.RegularExpressions.Regex.Matches(later.Output, @"epoch \d/3: loss").Select(m => m.Value));
        // Recorded now, under the same key: what the pruned trial left in the run cache is dropped.
        Assert.Empty(Directory.GetDirectories(Path.Combine(artifacts, ".cache", "unfinished"), "train-*"));
    }
}
