using Cake.Common.Build;
using System.Diagnostics;

namespace Build.Host;

/// <summary>
/// The one way the host executes tasks: each as soon as the tasks it depends on have completed, up to <c>--jobs</c>
/// at once (default 1: one after the other, in the pipeline's order). A stage that
/// <see cref="Pipeline.Stages.Stage.RunsAlone"/> starts only when nothing else runs, and nothing starts beside it.
/// After a failure no new task starts; the run fails with the first error once the running ones end. A task that runs
/// alone (every task with --jobs=1) gets its own CI log group; tasks running side by side carry their names on each line.
/// </summary>
public static class TaskRunner
{
    public static async Task RunAsync(PipelineContext context, TaskCatalog catalog, TaskInfo target)
    {
        var tasks = context.Settings.Exclusive ? [target] : catalog.Closure(target).ToList();
        var names = tasks.Select(t => t.Name).ToHashSet();
        var done = new HashSet<string>();
        var running = new Dictionary<Task, TaskInfo>();
        var pending = catalog.Tasks.Where(tasks.Contains).ToList(); // dependency order, so ties start in pipeline order
        Exception? failure = null;
        var groups = new CiLogGroups(context.BuildSystem());
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
                // Only a task with nothing beside it has its lines to itself: a group would mislabel another's.
                bool grouped = running.Count == 0 && (context.Settings.Jobs == 1 || alone);
                running[Task.Run(() => RunOneAsync(context, info, grouped ? groups : null))] = info;
            }
            if (running.Count == 0) break;
            var finished = await Task.WhenAny(running.Keys);
            var task = running[finished];
            running.Remove(finished);
            // A cancelled task (Ctrl-C) is a failure too: awaiting it rethrows whatever ended it.
            try { await finished; done.Add(task.Name); }
            catch (Exception error) { failure ??= error; }
        }
        if (failure is not null) throw failure;
    }

    static async Task RunOneAsync(PipelineContext context, TaskInfo info, CiLogGroups? groups)
    {
        var clock = Stopwatch.StartNew();
        groups?.Start(info.Name);
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
        finally
        {
            groups?.End();
        }
    }
}
