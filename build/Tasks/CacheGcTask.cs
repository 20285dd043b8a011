using Build.Host;
using Pipeline.Experiments;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("CacheGc")]
[TaskDescription("Evict the least recently used runs from the run cache above cache.max_size_mb; named experiments' runs stay.")]
public sealed class CacheGcTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context)
    {
        var cache = context.Store.Cache ?? throw new UsageException("--target=CacheGc has no cache to collect with --no-cache");
        var named = new ExperimentLog(PipelineHost.ExperimentsFolder(context.Store.Root)).All()
            .Where(e => e.Name is not null).SelectMany(e => e.Stages.Values).ToHashSet();
        var (runs, bytes) = cache.Collect((long)(context.Parameters.Section<CacheParameters>().MaxSizeMb * 1048576), named);
        context.Logger.Information("cache: evicted {Runs} runs, freed {Megabytes:N1} MB (cap {Cap:N0} MB, {Named} runs of named experiments kept)",
            runs, bytes / 1048576.0, context.Parameters.Section<CacheParameters>().MaxSizeMb, named.Count);
        return Task.CompletedTask;
    }
}
