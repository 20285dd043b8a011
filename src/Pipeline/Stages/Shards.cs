using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>What a shard writes last into its folder: its range, every file it wrote with size and SHA-256, its metrics.</summary>
public sealed record ShardRecord(int Index, int Shards, ItemRange Range, IReadOnlyList<OutputFile> Outputs, SortedDictionary<string, JsonNode?> Metrics)
{
    public const string FileName = "shard.json";
}

/// <summary>
/// The shards of one run of a shardable stage: <c>artifacts/.shards/&lt;stage&gt;/&lt;fingerprint&gt;/&lt;i&gt;-of-&lt;N&gt;/</c>,
/// each complete only once its <see cref="ShardRecord"/> is written (last), and <c>logs/</c> for the scheduler's logs.
/// A shard runs in its own process without the artifacts lock (the run that waits for it holds that) and writes only
/// into its own folder. The folders stay until the stage is recorded, so after a failure a rerun computes only the
/// shards that did not finish; a fingerprint of its own means a changed input or parameter never reuses a shard.
/// </summary>
public sealed class ShardSet
{
    readonly ArtifactStore store;
    readonly StageDefinition definition;

    public ShardSet(ArtifactStore store, StageDefinition definition, int items, int shards)
    {
        (this.store, this.definition) = (store, definition);
        Items = items;
        // A shard without items would only cost a task.
        Count = Math.Clamp(shards, 1, Math.Max(1, items));
        Root = Path.Combine(store.Root, ".shards", definition.Name, store.Fingerprint(definition).Hash[..16]);
    }

    public int Items { get; }

    /// <summary>How many shards (the asked number, at most one per item).</summary>
    public int Count { get; }

    public string Root { get; }

    public string Logs => Path.Combine(Root, "logs");

    public string Folder(int index) => Path.Combine(Root, $"{index}-of-{Count}");

    public ItemRange Range(int index) => ItemRange.Shard(Items, index, Count);

    /// <summary>Every shard of the stage (any fingerprint) goes once the stage is recorded.</summary>
    public void Delete()
    {
        string stage = Path.GetDirectoryName(Root)!;
        if (Directory.Exists(stage)) Directory.Delete(stage, recursive: true);
    }

    /// <summary>The shard's record when it finished: the record is there and every file it lists has its size.</summary>
    public ShardRecord? Completed(int index)
    {
        string path = Path.Combine(Folder(index), ShardRecord.FileName);
        if (!File.Exists(path)) return null;
        ShardRecord? record;
        try { record = JsonSerializer.Deserialize<ShardRecord>(File.ReadAllText(path), CanonicalJson.Options); }
        catch (JsonException) { return null; }
        if (record is null || record.Index != index || record.Shards != Count || record.Range != Range(index)) return null;
        return record.Outputs.All(o => new FileInfo(Path.Combine(Folder(index), o.Path)) is { Exists: true } f && f.Length == o.Size) ? record : null;
    }

    /// <summary>The shards that have not finished, in index order.</summary>
    public IReadOnlyList<int> Missing() => [.. Enumerable.Range(0, Count).Where(i => Completed(i) is null)];

    /// <summary>
    /// Runs shard <paramref name="index"/> in this process: a clean folder, the range's outputs, then the record.
    /// The previous complete outputs of the stage may be salvaged from (e.g. Export's files that are already right).
    /// </summary>
    public async Task RunAsync(IShardable stage, StageContext context, int index)
    {
        string folder = Folder(index);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(folder);
        string previous = store.StageDirectory(definition.Name);
        var part = new StageWorkspace(folder, Directory.Exists(previous) ? previous : null, []);
        await stage.ProduceRangeAsync(context, part, Range(index));
        var outputs = ArtifactStore.HashOutputs(part, context.Cancellation);
        CrashHook.Point($"shard-{index}"); // as a task that Slurm cancels or whose node fails
        CanonicalJson.WriteFile(Path.Combine(folder, ShardRecord.FileName), new ShardRecord(index, Count, Range(index), outputs, part.Metrics));
    }

    /// <summary>
    /// Merges the finished shards into <paramref name="workspace"/> in index order: the stage's concatenated files
    /// appended, every other file linked into place (a file that several shards write, e.g. Featurize's backbone, must
    /// be the same bytes in each), metrics added up; then the stage writes what is drawn from the whole.
    /// </summary>
    public async Task MergeAsync(IShardable stage, StageContext context, StageWorkspace workspace)
    {
        var concatenated = stage.Concatenated(context).ToHashSet(StringComparer.Ordinal);
        var placed = new Dictionary<string, (int Shard, string Sha256)>(StringComparer.Ordinal);
        for (int index = 0; index < Count; index++)
        {
            var record = Completed(index) ?? throw new StageException($"{definition.Name}: shard {index + 1}/{Count} ({Range(index)}) has not finished");
            foreach (var output in record.Outputs)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                string source = Path.Combine(Folder(index), output.Path), target = workspace.PathOf(output.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                if (concatenated.Contains(output.Path))
                {
                    using var from = File.OpenRead(source);
                    using var to = new FileStream(target, FileMode.Append, FileAccess.Write);
                    from.CopyTo(to);
                }
                else if (placed.TryGetValue(output.Path, out var earlier))
                {
                    if (earlier.Sha256 != output.Sha256)
                        throw new StageException($"{definition.Name}: shards {earlier.Shard + 1} and {index + 1} of {Count} wrote {output.Path} with different content");
                }
                else
                {
                    RunCache.Place(source, target);
                    workspace.Declare(output);
                    placed[output.Path] = (index, output.Sha256);
                }
            }
            foreach (var (name, value) in record.Metrics)
                if (StageWorkspace.Number(value) is { } number)
                    workspace.Metrics[name] = Math.Round(workspace.Metric(name) + number, 3);
        }
        await stage.CompleteAsync(context, workspace);
    }
}
