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
/// continues it: finished trials are read back, a killed one runs again and resumes from its checkpoints.
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
                    number = study.Trials.Count;
                    var point = sampler.Propose(search.Space, study.Observations(), number);
                    study.Trials.Add(new TrialRecord { Number = number, Point = point, Assignments = search.Space.Assignments(point), State = TrialState.Running });
                    study.Save();
                }
                else break;

                var trial = study.Trials[number];
                people.WriteLine($"\n== study {study.Name}, trial {number + 1}/{search.Trials}: {string.Join(" ", trial.Assignments)}");
                var (finished, report, cancelled) = await RunTrialAsync(study, trial, pruner, settings, catalog, target, root, artifacts, parametersFile);
                study.Trials[number] = finished;
                study.Save();
                reports.Add(report);
                if (cancelled)
                {
                    people.WriteLine($"study {study.Name}: cancelled; trial {number} stays running and resumes when the same command runs again");
                    return 1;
                }
                if (finished.State == TrialState.Failed)
                {
                    failures++;
                    people.WriteLine($"trial {number} FAILED: {finished.Reason}{(finished.Log is null ? "" : $" (its log: {finished.Log})")}; the study goes on");
                }
                else if (finished.State == TrialState.Pruned)
                    people.WriteLine($"trial {number} pruned after {finished.Epochs} epoch(s): {finished.Reason}");
            }
            return Finish(settings, study, reports) ?? (failures == 0 ? 0 : 1);
        }
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

    /// <summary>Runs one trial as a full pipeline run, its pruner listening to the training epochs.</summary>
    static async Task<(TrialRecord Trial, JsonObject Report, bool Cancelled)> RunTrialAsync(Study study, TrialRecord trial, IPruner? pruner,
        PipelineSettings settings, TaskCatalog catalog, TaskInfo target, string root, string artifacts, string parametersFile)
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
            study.Trials[trial.Number] = trial with { History = new(history) };
            study.Save();
            // Stopping at the last epoch saves nothing and throws a finished training away.
            if (pruner is null || metric is null || epoch >= lastEpoch) return;
            var losses = history.Where(h => h.Value.ContainsKey(metric)).ToDictionary(h => h.Key, h => objective.Loss(h.Value[metric]));
            if (pruner.Prune(epoch, losses, study.EpochLosses(trial.Number)) is { } why)
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
