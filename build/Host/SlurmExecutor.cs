using System.Diagnostics;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Build.Host;

/// <summary>
/// <c>--executor=slurm</c>. A shardable stage that must run is split into <c>--shards</c> index ranges; the shards not
/// finished earlier are submitted as one <c>sbatch --array</c> job whose task i runs this same host with
/// <c>--shard=i/N</c> (and the run's parameters, artifacts and mirrors) on the shared file system; the run waits for
/// it, holding the artifacts lock, then merges the shards into the stage's staging folder, and the engine verifies and
/// records the stage as after a local run.
/// </summary>
public static class SlurmExecutor
{
    public static async Task ProduceAsync(PipelineContext context, string task, IShardable stage, StageDefinition definition,
        StageContext stages, StageWorkspace workspace)
    {
        var log = stages.Log;
        var shards = new ShardSet(context.Store, definition, stage.Items(stages), context.Settings.Shards);
        if (context.Forced && Directory.Exists(shards.Root)) Directory.Delete(shards.Root, recursive: true);
        var missing = shards.Missing();
        log.Information("{StageName}: {Items:N0} items in {Shards} shards; {Done} finished earlier, {Missing} go to Slurm",
            definition.Name, shards.Items, shards.Count, shards.Count - missing.Count, missing.Count);
        if (missing.Count > 0)
        {
            var cluster = new SlurmCluster(context.Parameters.Slurm);
            var clock = Stopwatch.StartNew();
            string script = WriteScript(shards.Root, $"--shard=${{SLURM_ARRAY_TASK_ID}}/{shards.Count}", ShardArguments(context, task));
            string job = cluster.Submit(script, missing, $"pipeline-{definition.Name}", shards.Logs, Environment.CurrentDirectory);
            log.Information("{StageName}: Slurm job {Job}, tasks {Tasks}; logs in {Logs}", definition.Name, job, SlurmCluster.ArraySpec(missing), shards.Logs);
            var ended = await cluster.WaitAsync(job, missing.Count, m => log.Information("{StageName}: {Progress:l}", definition.Name, m), context.Cancellation);
            var failed = missing.Where(i => shards.Completed(i) is null).ToList();
            if (failed.Count > 0)
            {
                var lines = failed.Select(i =>
                {
                    var how = ended.FirstOrDefault(t => t.Index == i);
                    string state = how?.Ending ?? "ended without finishing";
                    return $"shard {i}/{shards.Count} ({shards.Range(i)}) failed: Slurm task {job}_{i} {state}; its log: {SlurmCluster.LogFile(shards.Logs, job, i)}";
                }).ToList();
                throw new StageException(lines.Count == 1 ? $"{definition.Name}: {lines[0]}; the other shards are kept for the next run"
                    : $"{definition.Name}: {lines.Count} of {shards.Count} shards failed; the others are kept for the next run:\n  {string.Join("\n  ", lines)}");
            }
            log.Information("{StageName}: {Count} shards ran on Slurm in {Seconds:0.00} s", definition.Name, missing.Count, clock.Elapsed.TotalSeconds);
        }
        var merging = Stopwatch.StartNew();
        await shards.MergeAsync(stage, stages, workspace);
        log.Information("{StageName}: merged {Shards} shards in {Seconds:0.00} s", definition.Name, shards.Count, merging.Elapsed.TotalSeconds);
        workspace.Metrics["shards"] = shards.Count;
    }

    /// <summary>After the stage is recorded its shards are no longer needed.</summary>
    public static void Recorded(PipelineContext context, StageDefinition definition) =>
        new ShardSet(context.Store, definition, 0, 1).Delete();

    /// <summary>What a task runs besides its --shard: this host, the target, and the run's parameters, artifacts and mirrors.</summary>
    static List<string> ShardArguments(PipelineContext context, string task)
    {
        var settings = context.Settings;
        var args = new List<string> { $"--target={task}", $"--artifacts={context.Store.Root}", $"--verbosity={settings.Verbosity}" };
        if (settings.Parameters is { } parameters) args.Add($"--params={Path.GetFullPath(parameters)}");
        args.AddRange(settings.Sets.Select(s => $"--set={s}"));
        args.AddRange(settings.Mirrors.Select(m => $"--mirror={Downloader.ResolveMirror(m)}"));
        return args;
    }

    /// <summary>The job script: this host (the same build the run started) with the given arguments.</summary>
    static string WriteScript(string folder, string shardArgument, IEnumerable<string> args)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "task.sh");
        var text = new StringBuilder("#!/bin/sh\n# A Slurm task of the pipeline: this host on one shard (--shard from the array task id).\nexec");
        foreach (var arg in Host().Concat(args))
            text.Append(' ').Append(Quote(arg));
        text.Append(' ').Append('"').Append(shardArgument).Append("\"\n");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>The command that started this host: dotnet with Build.dll, or the apphost alone.</summary>
    static IEnumerable<string> Host()
    {
        string process = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(SlurmExecutor).Assembly.Location] : [process];
    }

    static string Quote(string arg) => "'" + arg.Replace("'", "'\\''") + "'";

    /// <summary>
    /// <c>--shard=I/N</c>: shard I of the target in this process, without the artifacts lock (the run that submitted it
    /// holds it) and writing only into the shard's folder; its record, written last, marks it finished.
    /// </summary>
    public static async Task<int> RunShardAsync(PipelineSettings settings, PipelineParameters parameters, TaskInfo target, string root, string artifacts)
    {
        using var logger = HostLogging.Create(settings, artifacts, target.Name);
        var (index, count) = settings.Shard!.Value;
        try
        {
            if (target.Stage is not IShardable stage)
                throw new UsageException($"--shard: {target.Name} does not run per image (shardable: Export, Augment, Featurize)");
            var stages = new StageContext(new ArtifactStore(artifacts), parameters.Sections(), root,
                settings.Mirrors.Select(m => Downloader.ResolveMirror(m)).ToList(), logger, CancellationToken.None);
            var shards = new ShardSet(stages.Store, target.Stage.Define(stages), stage.Items(stages), count);
            if (shards.Count != count)
                throw new UsageException($"--shard={index}/{count}: {target.Name} has {shards.Items:N0} items, so at most {shards.Count} shards");
            var clock = Stopwatch.StartNew();
            logger.Information("{Task} shard {Index}/{Count} ({Range}) into {Folder}", target.Name, index, count, shards.Range(index), shards.Folder(index));
            await shards.RunAsync(stage, stages, index);
            logger.Information("{Task} shard {Index}/{Count}: finished in {Seconds:0.00} s", target.Name, index, count, clock.Elapsed.TotalSeconds);
            return 0;
        }
        catch (Exception e)
        {
            var error = CakeWiring.Unwrap(e);
            logger.Error("{Task} shard {Index}/{Count} failed: {Message:l}", target.Name, index, count, error.Message);
            return error is UsageException ? 2 : 1;
        }
    }
}
