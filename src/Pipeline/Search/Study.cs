using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Pipeline.Evaluation;
using Pipeline.Stages;

namespace Pipeline.Search;

/// <summary>One objective: a metric of the trial's experiment (or the model's parameter count) and its direction.</summary>
public sealed record Objective(string Metric, bool Maximize)
{
    /// <summary>What <c>--objective</c> takes: the experiment's metrics and the model's size.</summary>
    public static IReadOnlyList<string> Metrics => [.. MetricNames.Experiment, MetricNames.Parameters];

    /// <summary>Parses <c>metric:max</c> or <c>metric:min</c> (a bare metric takes its usual direction).</summary>
    public static Objective Parse(string text)
    {
        var parts = text.Split(':');
        string metric = parts[0].Trim();
        if (!Metrics.Contains(metric) || parts.Length > 2)
            throw new SearchException($"--objective={text}: expected METRIC[:max|:min] with a metric of {string.Join(", ", Metrics)}");
        bool maximize = parts.Length == 1 ? !MetricNames.LowerIsBetter(metric) : parts[1] switch
        {
            "max" => true,
            "min" => false,
            _ => throw new SearchException($"--objective={text}: the direction is max or min"),
        };
        return new Objective(metric, maximize);
    }

    public override string ToString() => $"{Metric}:{(Maximize ? "max" : "min")}";

    /// <summary>The value as a loss (lower is better).</summary>
    public double Loss(double value) => Maximize ? -value : value;
}

/// <summary>What makes a study: its space, sampler and seed, objectives, pruner and the fixed <c>--set</c>s. A rerun must give the same.</summary>
public sealed record StudyDefinition(SortedDictionary<string, string> Space, string Sampler, int Seed, IReadOnlyList<string> Objectives,
    string? Prune, IReadOnlyList<string> Sets);

/// <summary>
/// One trial: its number and point (as <c>--set</c> assignments too), its state, its objectives' values, the validation
/// metrics of every epoch trained, the experiment it recorded, and for a failed or pruned one why (and its log).
/// </summary>
public sealed record TrialRecord
{
    public int Number { get; init; }
    public double[] Point { get; init; } = [];
    public IReadOnlyList<string> Assignments { get; init; } = [];
    public TrialState State { get; init; }
    public SortedDictionary<string, double?> Values { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Per epoch (from 1) the training stage's validation metrics (val_accuracy, val_loss, …).</summary>
    public SortedDictionary<int, SortedDictionary<string, double>> History { get; init; } = [];
    public string? Experiment { get; init; }
    public string? Reason { get; init; }
    public string? Log { get; init; }

    public int Epochs => History.Count == 0 ? 0 : History.Keys.Max();
}

/// <summary>
/// A study's state in <c>artifacts/studies/&lt;name&gt;/study.json</c>, beside its plots: its definition and every trial.
/// The host that runs the study holds <c>study.lock</c> (an flock, released when it dies) and alone writes this file,
/// atomically; a rerun of the same command continues it.
/// </summary>
public sealed class Study
{
    public const string FileName = "study.json";

    public string Name { get; }
    public string Folder { get; }
    public StudyDefinition Definition { get; }
    public List<TrialRecord> Trials { get; }

    Study(string name, string folder, StudyDefinition definition, List<TrialRecord> trials)
    {
        Name = name;
        Folder = folder;
        Definition = definition;
        Trials = trials;
    }

    public static string FolderOf(string artifacts, string name) => Path.Combine(artifacts, "studies", name);

    /// <summary>Checks a study name: a plain folder name.</summary>
    public static void CheckName(string name)
    {
        if (name.Length == 0 || name.Length > 100 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || name.StartsWith('.'))
            throw new SearchException($"--study={name}: a study name is letters, digits, '-', '_' and '.' (not first), up to 100 characters");
    }

    /// <summary>The study of that name as stored, or null.</summary>
    public static Study? Read(string artifacts, string name)
    {
        string folder = FolderOf(artifacts, name), path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var state = JsonSerializer.Deserialize<State>(File.ReadAllText(path), CanonicalJson.Options)
                ?? throw new SearchException($"{path}: empty");
            return new Study(name, folder, state.Definition, [.. state.Trials]);
        }
        catch (JsonException e)
        {
            throw new SearchException($"{path}: not a study file ({e.Message}); move it away to start the study again");
        }
    }

    /// <summary>The stored study, which must have this definition, or a new one.</summary>
    public static Study OpenOrCreate(string artifacts, string name, StudyDefinition definition)
    {
        if (Read(artifacts, name) is not { } study)
            return new Study(name, FolderOf(artifacts, name), definition, []);
        var differences = Differences(study.Definition, definition);
        if (differences.Count > 0)
            throw new SearchException($"--study={name} exists with another definition ({string.Join("; ", differences)}); " +
                "a study never mixes two: give another --study name, or the same options as before");
        return study;
    }

    static List<string> Differences(StudyDefinition stored, StudyDefinition given)
    {
        var differences = new List<string>();
        string Show(IEnumerable<string> items) => string.Join(" ", items);
        if (Show(stored.Space.Select(p => $"{p.Key}={p.Value}")) != Show(given.Space.Select(p => $"{p.Key}={p.Value}")))
            differences.Add($"its space is {Show(stored.Space.Select(p => $"{p.Key}={p.Value}"))}, this one {Show(given.Space.Select(p => $"{p.Key}={p.Value}"))}");
        if (stored.Sampler != given.Sampler) differences.Add($"its sampler is {stored.Sampler}, not {given.Sampler}");
        if (stored.Seed != given.Seed) differences.Add($"its seed is {stored.Seed}, not {given.Seed}");
        if (Show(stored.Objectives) != Show(given.Objectives)) differences.Add($"its objectives are {Show(stored.Objectives)}, not {Show(given.Objectives)}");
        if (stored.Prune != given.Prune) differences.Add($"its pruner is {stored.Prune ?? "none"}, not {given.Prune ?? "none"}");
        if (Show(stored.Sets) != Show(given.Sets)) differences.Add($"its --set options are [{Show(stored.Sets)}], not [{Show(given.Sets)}]");
        return differences;
    }

    /// <summary>Writes the state atomically (a killed write leaves the previous state).</summary>
    public void Save()
    {
        Directory.CreateDirectory(Folder);
        string path = Path.Combine(Folder, FileName), partial = path + ".partial";
        File.WriteAllText(partial, JsonSerializer.Serialize(new State(Definition, Trials), CanonicalJson.Indented) + "\n");
        File.Move(partial, path, overwrite: true);
    }

    /// <summary>
    /// Proposes the next trial and adds it as running. The trials still running (those proposed earlier in a batch
    /// among them) are in the sampler's history: TPE's constant liar spreads a batch out.
    /// </summary>
    public TrialRecord Propose(ISampler sampler, SearchSpace space)
    {
        var point = sampler.Propose(space, Observations(), Trials.Count);
        var trial = new TrialRecord { Number = Trials.Count, Point = point, Assignments = space.Assignments(point), State = TrialState.Running };
        Trials.Add(trial);
        return trial;
    }

    /// <summary>
    /// A trial's own folder, for a trial that runs apart (a Slurm task): its artifacts folder and <see cref="TrialFileName"/>,
    /// which only that trial writes.
    /// </summary>
    public string TrialFolder(int number) => Path.Combine(Folder, "trials", number.ToString(CultureInfo.InvariantCulture));

    public const string TrialFileName = "trial.json";

    /// <summary>Writes a trial's state into its own folder, atomically: what a trial running apart reports.</summary>
    public void WriteTrial(TrialRecord trial)
    {
        string path = Path.Combine(TrialFolder(trial.Number), TrialFileName), partial = path + ".partial";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(partial, JsonSerializer.Serialize(trial, CanonicalJson.Indented) + "\n");
        File.Move(partial, path, overwrite: true);
    }

    /// <summary>What a trial running apart last wrote of itself, or null (none yet, or unreadable: it is read again later).</summary>
    public TrialRecord? ReadTrial(int number)
    {
        string path = Path.Combine(TrialFolder(number), TrialFileName);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<TrialRecord>(File.ReadAllText(path), CanonicalJson.Options) is { } t && t.Number == number ? t : null : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return null;
        }
    }

    /// <summary>Holds the study against a second host running it (waits up to <paramref name="wait"/>).</summary>
    public IDisposable Lock(TimeSpan wait, Action<string>? onWaiting = null) => ArtifactsLock.Acquire(Folder, wait, onWaiting);

    public IReadOnlyList<Objective> Objectives => [.. Definition.Objectives.Select(Objective.Parse)];

    /// <summary>What a sampler learns from the trials (each objective as a loss; a pruned trial by its pruning metric's last epoch).</summary>
    public IReadOnlyList<Observation> Observations()
    {
        var objectives = Objectives;
        string? perEpoch = MetricNames.Validation(objectives[0].Metric);
        return [.. Trials.Select(t => t.State switch
        {
            TrialState.Complete when objectives.All(o => t.Values.GetValueOrDefault(o.Metric) is not null) =>
                new Observation(t.Point, TrialState.Complete, [.. objectives.Select(o => o.Loss(t.Values[o.Metric]!.Value))]),
            TrialState.Pruned when perEpoch is not null && t.History.Count > 0 && t.History[t.Epochs].TryGetValue(perEpoch, out double last) =>
                new Observation(t.Point, TrialState.Pruned, [objectives[0].Loss(last)], t.Epochs),
            TrialState.Running => new Observation(t.Point, TrialState.Running),
            _ => new Observation(t.Point, TrialState.Failed),
        })];
    }

    /// <summary>Each earlier trial's losses per epoch on the pruning metric (the first objective's validation metric).</summary>
    public IReadOnlyList<IReadOnlyDictionary<int, double>> EpochLosses(int exceptTrial)
    {
        var first = Objectives[0];
        string metric = MetricNames.Validation(first.Metric) ?? throw new SearchException($"--prune: {first.Metric} is not measured per epoch");
        return [.. Trials.Where(t => t.Number != exceptTrial && t.State is TrialState.Complete or TrialState.Pruned)
            .Select(t => (IReadOnlyDictionary<int, double>)t.History.Where(h => h.Value.ContainsKey(metric))
                .ToDictionary(h => h.Key, h => first.Loss(h.Value[metric])))];
    }

    /// <summary>The complete trials on the Pareto front of the objectives (the best one with a single objective).</summary>
    public IReadOnlyList<TrialRecord> Front()
    {
        var objectives = Objectives;
        var complete = Trials.Where(t => t.State == TrialState.Complete && objectives.All(o => t.Values.GetValueOrDefault(o.Metric) is not null)).ToList();
        if (complete.Count == 0) return [];
        var fronts = Pareto.Fronts([.. complete.Select(t => (IReadOnlyList<double>)[.. objectives.Select(o => o.Loss(t.Values[o.Metric]!.Value))])]);
        return [.. complete.Where((_, i) => fronts[i] == 0).OrderBy(t => objectives[0].Loss(t.Values[objectives[0].Metric]!.Value))];
    }

    /// <summary>Trials best first: complete ones by the first objective, then pruned ones (later epoch first), running, failed.</summary>
    public IReadOnlyList<TrialRecord> BestFirst()
    {
        var objectives = Objectives;
        double Key(TrialRecord t) => t.Values.GetValueOrDefault(objectives[0].Metric) is { } v ? objectives[0].Loss(v) : double.PositiveInfinity;
        return [.. Trials.OrderBy(t => t.State switch { TrialState.Complete => 0, TrialState.Pruned => 1, TrialState.Running => 2, _ => 3 })
            .ThenByDescending(t => t.State == TrialState.Pruned ? t.Epochs : 0).ThenBy(Key).ThenBy(t => t.Number)];
    }

    public static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    sealed record State(StudyDefinition Definition, IReadOnlyList<TrialRecord> Trials);
}
