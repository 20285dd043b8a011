using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Pipeline.Stages;

/// <summary>
/// The incremental stage engine. Each stage's outputs live in <c>&lt;root&gt;/&lt;stage&gt;/</c> with a
/// <c>stage.json</c> record. A stage is up to date when its record matches the fingerprint of its name, implementation
/// version, parameters and input contents, and its recorded outputs are present with their recorded sizes.
/// A stage writes into <c>&lt;root&gt;/.staging/&lt;stage&gt;/</c>, records last, and the folder is swapped in by
/// rename: a run killed at any moment never leaves a stage that looks complete but is not.
/// </summary>
public sealed class ArtifactStore(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    string StagingRoot => Path.Combine(Root, ".staging");

    public string StageDirectory(string stage) => Path.Combine(Root, stage);

    public StageRecord? ReadRecord(string stage) => StageRecord.TryRead(StageDirectory(stage));

    public ArtifactsLock Lock(TimeSpan wait, Action<string>? onWaiting = null) => ArtifactsLock.Acquire(Root, wait, onWaiting);

    /// <summary>The stage's fingerprint and the canonical form of what went into it.</summary>
    public (string Hash, JsonNode? Parameters, SortedDictionary<string, string> Inputs) Fingerprint(StageDefinition stage)
    {
        var inputs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in stage.Inputs)
        {
            inputs[input.Name] = input switch
            {
                UpstreamInput up => ReadRecord(up.Stage)?.OutputHash
                    ?? throw new StageException($"stage '{stage.Name}' needs the outputs of '{up.Stage}', which has not completed"),
                FileInput file => File.Exists(file.Path) ? ContentHash.OfFile(file.Path)
                    : throw new StageException($"stage '{stage.Name}': input '{file.Name}' not found at {file.Path}"),
                _ => throw new StageException($"stage '{stage.Name}': unknown input kind {input.GetType().Name}"),
            };
        }
        var parameters = CanonicalJson.ToNode(stage.Parameters);
        string hash = ContentHash.OfText(CanonicalJson.Serialize(new JsonObject
        {
            ["stage"] = stage.Name,
            ["implementation_version"] = stage.ImplementationVersion,
            ["parameters"] = parameters?.DeepClone(),
            ["inputs"] = CanonicalJson.ToNode(inputs),
        }));
        return (hash, parameters, inputs);
    }

    /// <summary>Up to date, or every reason it is not.</summary>
    public StageStatus Check(StageDefinition stage)
    {
        var record = ReadRecord(stage.Name);
        if (record is null)
            return StageStatus.Stale("no complete record (never run, or the last run did not finish)");

        var (hash, parameters, inputs) = Fingerprint(stage);
        var reasons = new List<string>();
        if (record.ImplementationVersion != stage.ImplementationVersion)
            reasons.Add($"implementation version {record.ImplementationVersion} → {stage.ImplementationVersion}");
        reasons.AddRange(CanonicalJson.Diff(record.Parameters, parameters).Select(d => $"parameter {d}"));
        foreach (var name in record.Inputs.Keys.Union(inputs.Keys).Order(StringComparer.Ordinal))
        {
            bool had = record.Inputs.TryGetValue(name, out var before), has = inputs.TryGetValue(name, out var now);
            if (!had) reasons.Add($"new input {name}");
            else if (!has) reasons.Add($"input {name} removed");
            else if (before != now) reasons.Add($"input {name} changed");
        }
        if (reasons.Count == 0 && record.Fingerprint != hash)
            reasons.Add("fingerprint changed");
        if (reasons.Count > 0)
            return StageStatus.Stale([.. reasons]);

        string dir = StageDirectory(stage.Name);
        foreach (var output in record.Outputs)
        {
            var file = new FileInfo(Path.Combine(dir, output.Path));
            if (!file.Exists)
                reasons.Add($"output {output.Path} is missing");
            else if (file.Length != output.Size)
                reasons.Add($"output {output.Path} has {file.Length:N0} bytes, recorded {output.Size:N0}");
        }
        return reasons.Count > 0 ? StageStatus.Stale([.. reasons]) : StageStatus.Current();
    }

    /// <summary>
    /// Runs <paramref name="produce"/> in a fresh staging folder, hashes what it wrote, writes the record, and swaps
    /// the folder in. When <paramref name="produce"/> throws, nothing is recorded and the previous outputs stay.
    /// </summary>
    public async Task<StageRecord> RunAsync(StageDefinition stage, Func<StageWorkspace, CancellationToken, Task> produce,
        CancellationToken cancellation = default)
    {
        var (hash, parameters, inputs) = Fingerprint(stage);
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();

        string staging = Path.Combine(StagingRoot, stage.Name), leftover = staging + ".leftover";
        if (Directory.Exists(staging))
        {
            // A run that was killed or failed: keep what it wrote where the stage may salvage it.
            if (Directory.Exists(leftover)) Directory.Delete(leftover, recursive: true);
            Directory.Move(staging, leftover);
        }
        Directory.CreateDirectory(staging);
        string final = StageDirectory(stage.Name);
        var workspace = new StageWorkspace(staging, Directory.Exists(final) ? final : null, Directory.Exists(leftover) ? leftover : null);

        await produce(workspace, cancellation);

        var outputs = HashOutputs(workspace, cancellation);
        var tools = new SortedDictionary<string, string>(ToolVersions(), StringComparer.Ordinal);
        foreach (var (name, version) in workspace.Tools) tools[name] = version;
        var record = new StageRecord
        {
            Stage = stage.Name,
            Fingerprint = hash,
            ImplementationVersion = stage.ImplementationVersion,
            Parameters = parameters,
            Inputs = inputs,
            Outputs = outputs,
            OutputHash = StageRecord.HashOutputs(outputs),
            StartedAt = startedAt,
            DurationSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            Tools = tools,
            Metrics = workspace.Metrics,
        };
        CanonicalJson.WriteFile(Path.Combine(staging, StageRecord.FileName), record);
        Swap(staging, final);
        if (Directory.Exists(leftover)) Directory.Delete(leftover, recursive: true);
        return record;
    }

    void Swap(string staging, string final)
    {
        string? retired = null;
        if (Directory.Exists(final))
        {
            retired = Path.Combine(StagingRoot, $"{Path.GetFileName(final)}.retired-{Guid.NewGuid():N}");
            Directory.Move(final, retired);
        }
        Directory.Move(staging, final);
        if (retired is not null) Directory.Delete(retired, recursive: true);
    }

    /// <summary>Deletes folders retired by a swap that was interrupted before it could delete them.</summary>
    public void RemoveRetired()
    {
        if (!Directory.Exists(StagingRoot)) return;
        foreach (var dir in Directory.EnumerateDirectories(StagingRoot, "*.retired-*"))
            Directory.Delete(dir, recursive: true);
    }

    static List<OutputFile> HashOutputs(StageWorkspace workspace, CancellationToken cancellation)
    {
        string dir = workspace.Directory;
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != StageRecord.FileName || Path.GetDirectoryName(f) != dir)
            .ToArray();
        var outputs = new OutputFile[files.Length];
        Parallel.For(0, files.Length, new ParallelOptions { CancellationToken = cancellation }, i =>
        {
            string relative = Path.GetRelativePath(dir, files[i]).Replace('\\', '/');
            long size = new FileInfo(files[i]).Length;
            outputs[i] = workspace.Declared(relative) is { } known && known.Size == size
                ? known
                : new OutputFile(relative, size, ContentHash.OfFile(files[i]));
        });
        return [.. outputs.OrderBy(o => o.Path, StringComparer.Ordinal)];
    }

    static SortedDictionary<string, string> ToolVersions() => new(StringComparer.Ordinal)
    {
        ["dotnet"] = Environment.Version.ToString(),
        ["os"] = RuntimeInformation.OSDescription,
        ["pipeline"] = typeof(ArtifactStore).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
    };
}
