using System.Text.Json.Nodes;
using Pipeline;
using Pipeline.Experiments;
using Pipeline.Search;
using Pipeline.Stages;
using Pipeline.Training;

namespace Build.Host;

/// <summary>
/// <c>--search</c>: a study of trials, each a full run of the pipeline as a sweep point is (stages shared through the
/// run cache), proposed one after another by the sampler from the trials before. The study's state
/// (<see cref="Study"/>) is saved before and after every trial and after every epoch, so a rerun of the same command
/// continues it: finished trials are read back, a killed one runs again and resumes from its checkpoints. With
/// <c>--executor=slurm</c> the trials run in batches as Slurm array tasks, each in a folder of its own.
/// </summary>
public static class SearchHost
{
    public static async Task<int> RunAsync(PipelineSettings settings, TaskCatalog catalog, TaskInfo target, string root, string artifacts, string parametersFile)
    {
        var search = settings.Search!;
        Study study;
        try
        {
            if (target.Name != "Default")
                throw new UsageException($"--search runs the whole pipeline per trial (the Default target), not --target={target.Name}");
            Check(search, settings, catalog, target, root, artifacts, parametersFile);
            if (File.Exists(artifacts))
                throw new UsageException($"--artifacts={artifacts}: is a file, not a folder");
            var definition = new StudyDefinition(search.Space.Canonical(), search.Sampler, search.Seed, [.. search.Objectives.Select(o => o.ToString())],
                search.Prune, settings.Sets);
            string name = settings.Study ?? $"{search.Sampler}-{ContentHash.OfText(CanonicalJson.Serialize(definition))[..8]}";
            study = Study.OpenOrCreate(artifacts, name, definition);
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        var people = settings.People;
        if (settings.DryRun)
        {
            people.WriteLine($"study {study.Name} ({Study.FolderOf(artifacts, study.Name)}): {study.Trials.Count} of {search.Trials} trials recorded, " +
                $"{Math.Max(0, search.Trials - study.Trials.Count(t => t.State != TrialState.Running))} to run; {search.Sampler} over {string.Join(" ", search.Space.Dimensions.Select(d => $"{d.Key}={d.Text}"))}");
            people.WriteLine("\n== the first trial's stages (the sampler's first point), as a dry run");
            var point = Samplers.Create(search.Sampler, search.Seed).Propose(search.Space, [], 0);
            var parameters = PipelineHost.Bind(settings, parametersFile, catalog, target, root, artifacts, search.Space.Assignments(point));
            var (exitCode, _, report, _, _) = await PipelineHost.RunOnceAsync(settings, parameters, catalog, target, root, artifacts);
            return PipelineHost.WriteReport(settings, report) ?? exitCode;
        }

        Directory.CreateDirectory(study.Folder);
        IDisposable held;
        try
        {
            held = study.Lock(TimeSpan.FromSeconds(settings.LockWaitSeconds), m => Console.Error.WriteLine($"study {study.Name}: {m}"));
            study = Study.OpenOrCreate(artifacts, study.Name, study.Definition); // as the last holder left it
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        using (held)
        {
            if (settings.Executor == "slurm")
                return await RunOnSlurmAsync(settings, study, search, catalog, target, root, artifacts, parametersFile);
            var sampler = Samplers.Create(search.Sampler, search.Seed);
            var pruner = search.Prune is null ? null : Pruners.Create(search.Prune);
            int failures = 0;
            var reports = new JsonArray();
            // Trials a killed run left running go first, at their own points; then new ones until the study has enough.
            var queue = new Queue<int>(study.Trials.Where(t => t.State == TrialState.Running).Select(t => t.Number));
            if (queue.Count > 0)
                people.WriteLine($"study {study.Name}: {queue.Count} trial(s) were running when the last run stopped: they run again and resume from their checkpoints");
            while (true)
            {
                int number;
                if (queue.Count > 0) number = queue.Dequeue();
                else if (study.Trials.Count < search.Trials)
                {
                    number = study.Propose(sampler, search.Space).Number;
                    study.Save();
                }
                else break;

                var trial = study.Trials[number];
                people.WriteLine($"\n== study {study.Name}, trial {number + 1}/{search.Trials}: {string.Join(" ", trial.Assignments)}");
                var (finished, report, cancelled) = await RunTrialAsync(study, trial, pruner, settings, catalog, target, root, artifacts, parametersFile,
                    t => { study.Trials[t.Number] = t; study.Save(); }, () => study.EpochLosses(number));
                study.Trials[number] = finished;
                study.Save();
                reports.Add(report);
                if (cancelled)
                {
                    people.WriteLine($"study {study.Name}: cancelled; trial {number} stays running and resumes when the same command runs again");
                    return 1;
                }
                if (!Told(people, finished)) failures++;
            }
            return Finish(settings, study, reports) ?? (failures == 0 ? 0 : 1);
        }
    }

    /// <summary>Says how a trial ended when it was not complete; false when it failed.</summary>
    static bool Told(TextWriter people, TrialRecord trial)
    {
        if (trial.State == TrialState.Failed)
            people.WriteLine($"trial {trial.Number} FAILED: {trial.Reason}{(trial.Log is null ? "" : $" (its log: {trial.Log})")}; the study goes on");
        else if (trial.State == TrialState.Pruned)
            people.WriteLine($"trial {trial.Number} pruned after {trial.Epochs} epoch(s): {trial.Reason}");
        return trial.State != TrialState.Failed;
    }

    /// <summary>Trials in a batch when <c>slurm.max_running</c> is 0 (no limit).</summary>
    public const int DefaultBatch = 4;

    /// <summary>
    /// The study with <c>--executor=slurm</c>: the stages no searched key shapes run here, once; then trials go to Slurm in
    /// batches of <c>slurm.max_running</c> (<see cref="DefaultBatch"/> when it is 0), one array job per batch whose task n
    /// runs trial n (<see cref="RunTrialTaskAsync"/>) in the trial's own folder, whose <c>.cache</c> is this folder's run
    /// cache. The sampler proposes a batch with the batch's earlier trials running (TPE's constant liar). This host alone
    /// writes study.json: it reads each trial's own file back when the job ends. The job's id is kept beside the study
    /// until then, so a rerun after this host was killed waits for that job before it runs any trial again.
    /// </summary>
    static async Task<int> RunOnSlurmAsync(PipelineSettings settings, Study study, SearchOptions search, TaskCatalog catalog, TaskInfo target,
        string root, string artifacts, string parametersFile)
    {
        var people = settings.People;
        var basis = PipelineHost.Bind(settings, parametersFile, catalog, target, root, artifacts, []);
        var slurm = basis.Section<SlurmParameters>();
        int batch = slurm.MaxRunning > 0 ? slurm.MaxRunning : DefaultBatch;
        var cluster = new SlurmCluster(slurm);
        string logs = Path.Combine(study.Folder, "logs"), jobFile = Path.Combine(study.Folder, "slurm-job.txt");
        var reports = new JsonArray();
        int failures = 0;

        // What each trial of the job wrote of itself: finished ones are taken; the others failed, or (cancelled) stay running.
        void ReadBack(string job, IReadOnlyList<int> numbers, IReadOnlyList<SlurmTask>? ended)
        {
            foreach (int n in numbers)
            {
                var written = study.ReadTrial(n);
                if (written is { State: not TrialState.Running }) study.Trials[n] = written;
                else if (ended is null) continue;
                else
                {
                    var how = ended.FirstOrDefault(t => t.Index == n);
                    study.Trials[n] = (written ?? study.Trials[n]) with
                    {
                        State = TrialState.Failed, Reason = $"Slurm task {job}_{n} {how?.Ending ?? "ended without finishing"}", Log = SlurmCluster.LogFile(logs, job, n),
                    };
                }
                var trial = study.Trials[n];
                reports.Add(new JsonObject
                {
                    ["trial"] = n, ["point"] = new JsonArray([.. trial.Assignments.Select(a => (JsonNode)a)]), ["state"] = trial.State.ToString().ToLowerInvariant(),
                    ["experiment"] = trial.Experiment, ["slurm_job"] = job,
                });
                if (!Told(people, trial)) failures++;
            }
            study.Save();
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler cancel = (_, e) => { e.Cancel = true; cancellation.Cancel(); };
        Console.CancelKeyPress += cancel;
        try
        {
            if (File.Exists(jobFile) && File.ReadAllText(jobFile).Trim() is { Length: > 0 } left)
            {
                var running = study.Trials.Where(t => t.State == TrialState.Running).Select(t => t.Number).ToList();
                people.WriteLine($"study {study.Name}: the last run left Slurm job {left}: waiting for it before any trial runs again");
                await cluster.WaitAsync(left, running.Count, m => people.WriteLine($"study {study.Name}: {m}"), cancellation.Token);
                ReadBack(left, running, null);
                File.Delete(jobFile);
            }
            if (!study.Trials.Any(t => t.State == TrialState.Running) && study.Trials.Count >= search.Trials)
                return Finish(settings, study, reports) ?? (failures == 0 ? 0 : 1);

            var keys = search.Space.Dimensions.Select(d => d.Key).ToHashSet(StringComparer.Ordinal);
            if (!await SlurmExecutor.RunSharedAsync(settings, keys, basis, catalog, target, "trial",
                    async (one, parameters, task) => (await PipelineHost.RunOnceAsync(one, parameters, catalog, task, root, artifacts)).ExitCode))
                return 1;

            using var logger = HostLogging.Create(settings, artifacts, target.Name);
            // The trials share this folder's run cache: no CacheGc may evict from it meanwhile.
            using var held = ArtifactsLock.Acquire(artifacts, TimeSpan.FromSeconds(settings.LockWaitSeconds), m => logger.Warning("{Message:l}", m));
            var sampler = Samplers.Create(search.Sampler, search.Seed);
            while (true)
            {
                // Trials a killed run left running go first, at their own points; then new ones until the study has enough.
                var numbers = study.Trials.Where(t => t.State == TrialState.Running).Select(t => t.Number).Take(batch).ToList();
                while (numbers.Count < batch && study.Trials.Count < search.Trials) numbers.Add(study.Propose(sampler, search.Space).Number);
                if (numbers.Count == 0) break;
                study.Save();

                var tasks = new Dictionary<int, IReadOnlyList<string>>();
                foreach (int n in numbers)
                {
                    SlurmExecutor.ShareCache(study.TrialFolder(n), artifacts);
                    var args = SlurmExecutor.Arguments(settings, target.Name, artifacts, settings.Sets);
                    args.AddRange([$"--study={study.Name}", $"--trial={n}"]);
                    if (settings.NoCache) args.Add("--no-cache");
                    tasks[n] = args;
                    people.WriteLine($"== study {study.Name}, trial {n + 1}/{search.Trials} on Slurm: {string.Join(" ", study.Trials[n].Assignments)}");
                }
                string job = cluster.Submit(SlurmExecutor.WriteScript(study.Folder, tasks), numbers, $"study-{study.Name}", logs, Environment.CurrentDirectory);
                File.WriteAllText(jobFile + ".partial", job);
                File.Move(jobFile + ".partial", jobFile, overwrite: true);
                logger.Information("study {Study}: trials {Trials} as Slurm job {Job} (--array={Array}); each in {Folder}/<n>, logs in {Logs}",
                    study.Name, SlurmCluster.ArraySpec(numbers), job, cluster.Array(numbers), Path.Combine(study.Folder, "trials"), logs);
                IReadOnlyList<SlurmTask> ended;
                try
                {
                    ended = await cluster.WaitAsync(job, numbers.Count, m => logger.Information("study {Study}: {Progress:l}", study.Name, m), cancellation.Token);
                }
                catch (OperationCanceledException)
                {
                    ReadBack(job, numbers, null);
                    File.Delete(jobFile);
                    people.WriteLine($"study {study.Name}: cancelled (Slurm job {job} too); its unfinished trials stay running and resume when the same command runs again");
                    return 1;
                }
                File.Delete(jobFile);
                ReadBack(job, numbers, ended);
            }
        }
        catch (OperationCanceledException)
        {
            people.WriteLine($"study {study.Name}: cancelled");
            return 1;
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        finally
        {
            Console.CancelKeyPress -= cancel;
        }
        return Finish(settings, study, reports) ?? (failures == 0 ? 0 : 1);
    }

    /// <summary>
    /// <c>--trial=N</c>, what a Slurm task of a study runs: trial N as the study's file holds it, as a full run in the
    /// trial's own folder. It takes no study lock (the host that submitted it holds it) and writes only that folder: its
    /// state after every epoch and at the end into <see cref="Study.TrialFileName"/>. Its pruner reads the other trials'
    /// own files. Exit code 1 when the trial failed (pruned is a result, 0).
    /// </summary>
    public static async Task<int> RunTrialTaskAsync(PipelineSettings settings, TaskCatalog catalog, TaskInfo target, string root, string artifacts, string parametersFile)
    {
        Study study;
        TrialRecord trial;
        int number = settings.Trial!.Value;
        try
        {
            if (target.Name != "Default")
                throw new UsageException($"--trial runs a whole trial (the Default target), not --target={target.Name}");
            study = Study.Read(artifacts, settings.Study!) ?? throw new UsageException($"--trial={number}: no study {settings.Study} in {Study.FolderOf(artifacts, settings.Study!)}");
            if (number >= study.Trials.Count)
                throw new UsageException($"--trial={number}: study {study.Name} has {study.Trials.Count} trial(s)");
            if (!study.Definition.Sets.SequenceEqual(settings.Sets))
                throw new UsageException($"--trial={number}: the --set options are not the study's ({string.Join(" ", study.Definition.Sets)})");
            trial = study.Trials[number];
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        var pruner = study.Definition.Prune is { } prune ? Pruners.Create(prune) : null;
        string folder = study.TrialFolder(number);
        SlurmExecutor.ShareCache(folder, artifacts);
        IReadOnlyList<IReadOnlyDictionary<int, double>> Others()
        {
            for (int n = 0; n < study.Trials.Count; n++)
                if (n != number && study.ReadTrial(n) is { } other) study.Trials[n] = other;
            return study.EpochLosses(number);
        }
        var (finished, _, _) = await RunTrialAsync(study, trial, pruner, settings, catalog, target, root, folder, parametersFile, study.WriteTrial, Others);
        study.WriteTrial(finished);
        return finished.State == TrialState.Failed ? 1 : 0;
    }

    /// <summary>The study's table (stdout as JSON with --format=json), its plots, and --report's JSON.</summary>
    static int? Finish(PipelineSettings settings, Study study, JsonArray reports)
    {
        var plots = StudyReport.Plots(study);
        settings.People.WriteLine($"\n{StudyReport.Render(study, "table")}");
        if (plots.Count > 0) settings.People.WriteLine($"plots: {string.Join(", ", plots)}");
        if (settings.Json) Console.WriteLine(StudyReport.Render(study, "json"));
        return PipelineHost.WriteReport(settings, new JsonObject { ["study"] = study.Name, ["trials"] = reports });
    }

    /// <summary>
    /// Runs one trial as a full pipeline run in <paramref name="artifacts"/>, its pruner listening to the training epochs
    /// and judging against <paramref name="others"/>' losses per epoch; <paramref name="save"/> keeps its state after every epoch.
    /// </summary>
    static async Task<(TrialRecord Trial, JsonObject Report, bool Cancelled)> RunTrialAsync(Study study, TrialRecord trial, IPruner? pruner,
        PipelineSettings settings, TaskCatalog catalog, TaskInfo target, string root, string artifacts, string parametersFile,
        Action<TrialRecord> save, Func<IReadOnlyList<IReadOnlyDictionary<int, double>>> others)
    {
        PipelineParameters parameters;
        try
        {
            parameters = PipelineHost.Bind(settings, parametersFile, catalog, target, root, artifacts, trial.Assignments);
        }
        catch (PipelineException e)
        {
            return (trial with { State = TrialState.Failed, Reason = e.Message }, new JsonObject { ["trial"] = trial.Number, ["error"] = e.Message }, false);
        }
        var objective = study.Objectives[0];
        int lastEpoch = parameters.Section<TrainParameters>().Epochs;
        string? metric = Pipeline.Evaluation.MetricNames.Validation(objective.Metric);
        var history = new SortedDictionary<int, SortedDictionary<string, double>>(trial.History);
        EpochObserver observer = (stage, epoch, metrics) =>
        {
            if (stage != TrainStage.Instance.Name) return;
            history[epoch] = new(metrics.ToDictionary(), StringComparer.Ordinal);
            save(trial with { History = new(history) });
            // Stopping at the last epoch saves nothing and throws a finished training away.
            if (pruner is null || metric is null || epoch >= lastEpoch) return;
            var losses = history.Where(h => h.Value.ContainsKey(metric)).ToDictionary(h => h.Key, h => objective.Loss(h.Value[metric]));
            if (pruner.Prune(epoch, losses, others()) is { } why)
                throw new TrialPrunedException($"trial {trial.Number} pruned at epoch {epoch} ({metric} {Study.Number(history[epoch][metric])}): {why}");
        };
        var run = settings with { Experiment = $"{study.Name}-{trial.Number}" };
        var (exitCode, experiment, report, error, log) = await PipelineHost.RunOnceAsync(run, parameters, catalog, target, root, artifacts, observer);
        report["trial"] = trial.Number;
        report["point"] = new JsonArray([.. trial.Assignments.Select(a => (JsonNode)a)]);
        var done = trial with { History = history, Experiment = experiment };
        if (error is TrialPrunedException)
            return (done with { State = TrialState.Pruned, Reason = error.Message }, report, false);
        if (error is OperationCanceledException)
            return (done, report, true);
        if (exitCode != 0 || experiment is null)
            return (done with { State = TrialState.Failed, Reason = error?.Message ?? $"the run ended with exit code {exitCode}", Log = log }, report, false);

        // A run whose training was restored (no epoch heard) has its history in the stage's output.
        var store = new ArtifactStore(artifacts);
        string historyFile = Path.Combine(artifacts, TrainStage.Instance.Name, CheckpointedTraining.HistoryFile);
        if (File.Exists(historyFile))
            foreach (var epoch in CheckpointedTraining.ReadHistory(historyFile))
                history.TryAdd(epoch.Epoch, new(StringComparer.Ordinal)
                {
                    [Pipeline.Evaluation.MetricNames.Validation(Pipeline.Evaluation.MetricNames.Accuracy)!] = epoch.ValAccuracy,
                    [Pipeline.Evaluation.MetricNames.Validation(Pipeline.Evaluation.MetricNames.Loss)!] = epoch.ValLoss,
                });
        var values = new SortedDictionary<string, double?>(StringComparer.Ordinal);
        var metrics = new ExperimentLog(PipelineHost.ExperimentsFolder(artifacts)).Find(experiment).Metrics;
        foreach (var o in study.Objectives)
            values[o.Metric] = o.Metric == Pipeline.Evaluation.MetricNames.Parameters
                ? StageWorkspace.Number(store.ReadRecord(TrainStage.Instance.Name)?.Metrics.GetValueOrDefault(o.Metric))
                : metrics.GetValueOrDefault(o.Metric);
        return (done with { State = TrialState.Complete, Values = values, History = history }, report, false);
    }

    /// <summary>
    /// Binds the search's every bound and choice before any trial runs: each must be a parameter that shapes a stage of the
    /// pipeline and pass its validation; with a pruner, the trials must train more epochs than its warm-up. Returns the
    /// parameters with none of the space applied.
    /// </summary>
    static PipelineParameters Check(SearchOptions search, PipelineSettings settings, TaskCatalog catalog, TaskInfo target, string root,
        string artifacts, string parametersFile)
    {
        var basis = PipelineHost.Bind(settings, parametersFile, catalog, target, root, artifacts, []);
        var shaping = catalog.Closure(target).Select(t => t.Stage).OfType<Stage>().SelectMany(s => s.Shapes).ToHashSet(StringComparer.Ordinal);
        int epochs = basis.Section<TrainParameters>().Epochs;
        foreach (var dimension in search.Space.Dimensions)
        {
            IEnumerable<double> probes = dimension.Kind switch
            {
                DimensionKind.Choice => Enumerable.Range(0, dimension.Choices.Count).Select(i => (double)i),
                DimensionKind.Int => [dimension.Low, dimension.High],
                DimensionKind.Log => [dimension.Low, Math.Sqrt(dimension.Low * dimension.High), dimension.High],
                _ => [dimension.Low, (dimension.Low + dimension.High) / 2, dimension.High],
            };
            foreach (double probe in probes)
            {
                string assignment = dimension.Assignment(probe);
                try
                {
                    var bound = PipelineHost.Bind(settings, parametersFile, catalog, target, root, artifacts, [assignment]);
                    epochs = Math.Max(epochs, bound.Section<TrainParameters>().Epochs);
                }
                catch (PipelineException e)
                {
                    throw new UsageException($"--space {dimension.Key}={dimension.Text}: {assignment} does not bind: {e.Message.Replace("--set ", "")}");
                }
            }
            if (!shaping.Contains(dimension.Key))
                throw new UsageException($"--space {dimension.Key}: shapes no stage of the pipeline, so every trial would be the same run");
        }
        if (search.Prune is { } prune && Pruners.Create(prune).WarmupEpochs is var warmup && epochs <= warmup)
            throw new UsageException($"--prune={prune}: the trials train at most {epochs} epoch(s) (train.epochs) and the pruner's warm-up is {warmup}: no epoch to prune at");
        return basis;
    }
}
