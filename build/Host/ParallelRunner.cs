using System.Diagnostics;

namespace Build.Host;

/// <summary>
/// <c>--jobs=N</c>: runs the target's tasks as soon as the tasks they depend on have completed, up to N at once, in
/// the same actions and report as Cake's sequential engine. A stage that <see cref="Pipeline.Stages.Stage.RunsAlone"/>
/// starts only when nothing else runs, and nothing starts beside it. After a failure no new task starts; the run fails
/// with the first error once the running ones end.
/// </summary>
public static class ParallelRunner
{
    public static async Task RunAsync(PipelineContext context, TaskCatalog catalog, TaskInfo target)
    {
        var tasks = context.Settings.Exclusive ? [target] : catalog.Closure(target).ToList();
        var names = tasks.Select(t => t.Name).ToHashSet();
        var done = new HashSet<string>();
        var running = new Dictionary<Task, TaskInfo>();
        var pending = catalog.Tasks.Where(tasks.Contains).ToList(); // dependency order, so ties start in pipeline order
        Exception? failure = null;
        while (pending.Count > 0 || running.Count > 0)
        {
            foreach (var info in pending.ToList())
            {
                if (failure is not null || running.Count >= context.Settings.Jobs) break;
                bool alone = info.Stage?.RunsAlone == true;
                if (!info.DependsOn.Where(names.Contains).All(done.Contains)) continue;
                if (running.Values.Any(r => r.Stage?.RunsAlone == true)) break;
                if (alone && running.Count > 0) continue;
                pending.Remove(info);
                running[Task.Run(() => RunOneAsync(context, info))] = info;
            }
            if (running.Count == 0) break;
            var finished = await Task.WhenAny(running.Keys);
            var task = running[finished];
            running.Remove(finished);
            if (finished.Exception is { } error) failure ??= error.InnerException ?? error;
            else done.Add(task.Name);
        }
        if (failure is not null) throw failure;
    }

    static async Task RunOneAsync(PipelineContext context, TaskInfo info)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await CakeWiring.ExecuteAsync(CakeWiring.Create(info), context, info.Name);
            CakeWiring.Finished(context, info.Name, clock.Elapsed, null);
        }
        catch (Exception e)
        {
            CakeWiring.Finished(context, info.Name, clock.Elapsed, e);
            throw;
        }
    }
}
