using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// A stage of the pipeline, declared once, beside its domain code: its name, the stages whose outputs it reads
/// (typed references), the parameter keys that shape its outputs, and how it makes them. The code that makes them is
/// derived from the compiled code (CodeManifest.Reached).
/// The host derives the task order, the fingerprint and the paths to upstream outputs from this declaration; any
/// other key of a section (threads, retries, batch sizes that do not change results, the accuracy gate) never reruns
/// the stage.
/// </summary>
public abstract class Stage
{
    /// <summary>The output folder under artifacts/, and how records and reports name the stage.</summary>
    public abstract string Name { get; }

    public abstract string Description { get; }

    /// <summary>Every stage whose outputs this one may read; the task graph follows these.</summary>
    public abstract IReadOnlyList<Stage> Upstream { get; }

    /// <summary>The upstream stages this run reads (a subset of <see cref="Upstream"/>, e.g. when a branch is off).</summary>
    public virtual IEnumerable<Stage> Reads(StageContext context) => Upstream;

    /// <summary>The <c>section.key</c> parameters that shape the outputs; their values are in the fingerprint.</summary>
    public abstract IReadOnlyList<string> Shapes { get; }

    /// <summary>Keys of <see cref="Shapes"/> whose change may continue from earlier outputs in this run (e.g. more epochs);
    /// empty: only a run with the same parameters is continued (one that was killed); null: nothing is continued.</summary>
    public virtual IReadOnlyList<string>? Resumable(StageContext context) => null;

    /// <summary>Values beyond parameters that shape the outputs, e.g. the pinned files of a dataset definition.</summary>
    public virtual object? Pins(StageContext context) => null;

    /// <summary>
    /// Under <c>--jobs</c>, whether the stage runs with no other stage beside it: libtorch's random generator, thread
    /// pool and MKL switch are process-wide, and a training stage beside other stages was both slower and, once, failed
    /// inside libtorch.
    /// </summary>
    public virtual bool RunsAlone => false;

    /// <summary>
    /// Checks what this run asks of the stage before any stage runs, e.g. that the files named on the command line
    /// exist; the host reports an exception from here as a usage mistake and runs nothing.
    /// </summary>
    public virtual void CheckRequest(StageContext context) { }

    /// <summary>Why this run does not need the stage (a switched-off branch of the graph), or null.</summary>
    public virtual string? NotNeeded(StageContext context) => null;

    /// <summary>Makes the outputs in <paramref name="workspace"/>; the engine records them when this returns.</summary>
    public abstract Task ProduceAsync(StageContext context, StageWorkspace workspace);

    /// <summary>Checks on the recorded results, after the stage ran or was up to date (e.g. an accuracy gate).</summary>
    public virtual void Finish(StageContext context) { }

    /// <summary>What the engine fingerprints for this run.</summary>
    public StageDefinition Define(StageContext context)
    {
        var parameters = new JsonObject();
        foreach (var key in Shapes)
            parameters[key] = context.Parameter(key);
        if (Pins(context) is { } pins)
            parameters["pins"] = CanonicalJson.ToNode(pins);
        var resume = (JsonObject)parameters.DeepClone();
        var resumable = Resumable(context);
        foreach (var key in resumable ?? [])
            resume.Remove(key);
        var code = CodeManifest.For(GetType().Assembly).Reached(GetType());
        var inputs = Reads(context).Select(s => new UpstreamInput(s.Name)).ToList();
        return new StageDefinition(Name, CanonicalJson.ToNode(parameters), code, inputs)
        {
            ResumeParameters = resumable is null ? null : CanonicalJson.ToNode(resume),
        };
    }

    public override string ToString() => Name;
}

/// <summary>The one instance of a stage, so declarations refer to each other by type: <c>VerifyStage.Instance</c>.</summary>
public abstract class Stage<TSelf> : Stage where TSelf : Stage<TSelf>, new()
{
    public static TSelf Instance { get; } = new();
}

/// <summary>
/// A training stage's epoch, checkpointed: the stage, the epoch and its metrics by name (loss, accuracy, val_loss,
/// val_accuracy, learning_rate). An observer that throws stops the training there (a search prunes a trial so); the
/// epochs checkpointed so far stay resumable.
/// </summary>
public delegate void EpochObserver(string stage, int epoch, IReadOnlyDictionary<string, double> metrics);

/// <summary>
/// What a stage sees of the run: the typed parameter sections, the outputs of the stages it reads, the repository
/// root and mirrors, the log and the cancellation.
/// </summary>
public sealed class StageContext(ArtifactStore store, IReadOnlyDictionary<string, object> sections, string root,
    IReadOnlyList<string> mirrors, Serilog.ILogger log, CancellationToken cancellation)
{
    public ArtifactStore Store { get; } = store;

    /// <summary>The repository root: datasets/ lives here.</summary>
    public string Root { get; } = root;

    /// <summary>The <c>--mirror</c>s, tried first by every stage that fetches files.</summary>
    public IReadOnlyList<string> Mirrors { get; } = mirrors;

    public Serilog.ILogger Log { get; private init; } = log;

    /// <summary>The same context logging through <paramref name="log"/> (e.g. with the stage's name on each line).</summary>
    public StageContext WithLog(Serilog.ILogger log) => new(Store, sections, Root, Mirrors, log, Cancellation) { Log = log, OnEpoch = OnEpoch };

    /// <summary>Told after every epoch a training stage checkpoints; null when nobody listens.</summary>
    public EpochObserver? OnEpoch { get; init; }

    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>A parameter section, typed (every section of the parameters file is bound before any stage runs).</summary>
    public T Section<T>() where T : class =>
        sections.Values.OfType<T>().SingleOrDefault() ?? throw new StageException($"no parameter section of type {typeof(T).Name}");

    /// <summary>The value of <c>section.key</c> after defaults and overrides, in canonical form.</summary>
    public JsonNode? Parameter(string key)
    {
        int dot = key.IndexOf('.');
        if (dot < 0 || !sections.TryGetValue(key[..dot], out var section))
            throw new StageException($"parameter '{key}': no such section (sections: {string.Join(", ", sections.Keys)})");
        var node = CanonicalJson.ToNode(section) as JsonObject;
        string name = key[(dot + 1)..];
        if (node is null || !node.TryGetPropertyValue(name, out var value))
            throw new StageException($"parameter '{key}': '{key[..dot]}' has no key '{name}'");
        return value?.DeepClone();
    }

    /// <summary>The folder holding a stage's last complete outputs.</summary>
    public string OutputOf(Stage stage) => Store.StageDirectory(stage.Name);

    /// <summary>The last complete record of a stage (its metrics, tools and outputs).</summary>
    public StageRecord RecordOf(Stage stage) =>
        Store.ReadRecord(stage.Name) ?? throw new StageException($"the outputs of '{stage.Name}' are not complete: run it first");
}

/// <summary>
/// A stage whose work is per item (image), so it can run as contiguous index ranges, each anywhere
/// (<c>--executor=slurm --shards=N</c>). A range writes its items' own files under their final paths and its rows of
/// the <see cref="Concatenated"/> files; the ranges' parts merge in index order (those files appended, every other
/// file moved) and <see cref="CompleteAsync"/> then writes what is drawn from the whole (summaries, sheets). A local
/// run is the one-range case of the same code, so merged shards are a local run's bytes.
/// </summary>
public abstract class ShardableStage<TSelf> : Stage<TSelf>, IShardable where TSelf : ShardableStage<TSelf>, new()
{
    /// <summary>How many items this run covers; shards split [0, count) into contiguous ranges.</summary>
    public abstract int Items(StageContext context);

    /// <summary>Outputs made of every range's rows in index order (arrays, manifests); every other file belongs to one item.</summary>
    public abstract IReadOnlyList<string> Concatenated(StageContext context);

    /// <summary>Writes the outputs of the items in <paramref name="range"/> into <paramref name="part"/>'s folder.</summary>
    public abstract Task ProduceRangeAsync(StageContext context, StageWorkspace part, ItemRange range);

    /// <summary>Writes the outputs drawn from all items, once the ranges' parts are merged into <paramref name="workspace"/>.</summary>
    public abstract Task CompleteAsync(StageContext context, StageWorkspace workspace);

    public sealed override async Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        await ProduceRangeAsync(context, workspace, new ItemRange(0, Items(context)));
        await CompleteAsync(context, workspace);
    }
}

/// <summary>What the executors need of a <see cref="ShardableStage{TSelf}"/> without knowing its type.</summary>
public interface IShardable
{
    int Items(StageContext context);
    IReadOnlyList<string> Concatenated(StageContext context);
    Task ProduceRangeAsync(StageContext context, StageWorkspace part, ItemRange range);
    Task CompleteAsync(StageContext context, StageWorkspace workspace);
}

/// <summary>Items [Start, End) of a shardable stage, in its index order.</summary>
public readonly record struct ItemRange(int Start, int End)
{
    public int Count => End - Start;

    /// <summary>Shard <paramref name="index"/> of <paramref name="shards"/>: contiguous, sizes differing by at most one.</summary>
    public static ItemRange Shard(int items, int index, int shards) =>
        new((int)((long)items * index / shards), (int)((long)items * (index + 1) / shards));

    /// <summary>The part of this range inside a block of <paramref name="count"/> items that starts at <paramref name="offset"/>, as indices within the block.</summary>
    public (int From, int To) Within(int offset, int count) =>
        (Math.Clamp(Start - offset, 0, count), Math.Clamp(End - offset, 0, count));

    public override string ToString() => Count == 0 ? "no items" : $"items {Start:N0}–{End - 1:N0}";
}
