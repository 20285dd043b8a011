using System.Collections.Concurrent;
using Build.Host;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

/// <summary>
/// build/Host/TaskRunner.cs (sequential and --jobs=N) on a graph of its own: Fetch → Left, Right → Join, and Other beside them.
/// The tasks are found by TaskCatalog.Discover in this assembly, as the host finds its own.
/// </summary>
[Trait("Category", "Unit")]
public class TaskRunnerTests : IDisposable
{
    readonly TempFolder temp = new();

    public TaskRunnerTests() => RunnerProbe.Reset();

    public void Dispose() => temp.Dispose();

    static readonly TaskCatalog Catalog = TaskCatalog.Discover(typeof(TaskRunnerTests).Assembly);

    async Task<(PipelineContext Context, Exception? Error)> Run(string target, params string[] args)
    {
        var settings = CommandLine.Parse(args);
        var parameters = TestStages.Parameters();
        var stages = TestStages.Context(new ArtifactStore(temp["artifacts"]), parameters);
        var info = Catalog.Find(target)!;
        var context = new PipelineContext(CakeWiring.CreateCakeContext(settings, Logger.None), settings, parameters, stages, Catalog, info, Logger.None);
        try
        {
            await TaskRunner.RunAsync(context, Catalog, info);
            return (context, null);
        }
        catch (Exception e)
        {
            return (context, e);
        }
    }

    static int At(string evt) => RunnerProbe.Events.ToList().IndexOf(evt) is var i and >= 0 ? i : throw new Xunit.Sdk.XunitException($"no '{evt}' in {string.Join(", ", RunnerProbe.Events)}");

    [Fact]
    public async Task A_task_starts_only_after_every_task_it_depends_on_has_ended_and_tasks_outside_the_target_do_not_run()
    {
        var (context, error) = await Run("Join", "--jobs=2");
        Assert.Null(error);
        Assert.True(At("end Fetch") < At("start Left") && At("end Fetch") < At("start Right"));
        Assert.True(At("end Left") < At("start Join") && At("end Right") < At("start Join"));
        Assert.DoesNotContain("start Other", RunnerProbe.Events);
        Assert.All(context.Report.Entries, e => Assert.Equal(TaskOutcome.Executed, e.Outcome));
        Assert.Equal(["Fetch", "Join", "Left", "Right"], context.Report.Entries.Select(e => e.Task).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Independent_tasks_run_at_the_same_time_with_two_jobs_and_one_after_the_other_with_one()
    {
        var (_, error) = await Run("Join", "--jobs=2");
        Assert.Null(error);
        Assert.Equal(["Left saw Right running", "Right saw Left running"], RunnerProbe.Overlaps.Order(StringComparer.Ordinal));

        RunnerProbe.Reset();
        (_, error) = await Run("Join", "--jobs=1");
        Assert.Null(error);
        Assert.Empty(RunnerProbe.Overlaps);
        var sides = RunnerProbe.Events.Where(e => e.EndsWith(" Left") || e.EndsWith(" Right")).ToList();
        Assert.True(sides[0][6..] == sides[1][4..] && sides[2][6..] == sides[3][4..], string.Join(", ", sides)); // one ends before the other starts
    }

    [Fact]
    public async Task A_failure_starts_no_dependent_lets_the_running_task_end_and_is_rethrown()
    {
        RunnerProbe.Failing.Add("Left");
        var (context, error) = await Run("Join", "--jobs=2");
        Assert.Equal("Left failed on purpose", Assert.IsType<InvalidOperationException>(error).Message);
        Assert.DoesNotContain("start Join", RunnerProbe.Events);
        Assert.Contains("end Right", RunnerProbe.Events); // it was running: it ends, it is not abandoned
        var left = Assert.Single(context.Report.Entries, e => e.Task == "Left");
        Assert.Equal(TaskOutcome.Failed, left.Outcome);
        Assert.Equal("Left failed on purpose", left.Reason);
        Assert.DoesNotContain(context.Report.Entries, e => e.Task == "Join");
    }

    [Fact]
    public async Task A_failed_root_starts_nothing_else()
    {
        RunnerProbe.Failing.Add("Fetch");
        var (_, error) = await Run("Join", "--jobs=4");
        Assert.NotNull(error);
        Assert.Equal(["start Fetch"], RunnerProbe.Events);
    }

    [Fact]
    public async Task Exclusive_runs_the_target_alone()
    {
        var (context, error) = await Run("Join", "--jobs=2", "--exclusive");
        Assert.Null(error);
        Assert.Equal(["start Join", "end Join"], RunnerProbe.Events);
        Assert.Equal("Join", Assert.Single(context.Report.Entries).Task);
    }
}

/// <summary>What the probe tasks did, in order; shared because the runner creates the tasks itself.</summary>
static class RunnerProbe
{
    public static ConcurrentQueue<string> Events { get; private set; } = new();
    public static ConcurrentBag<string> Overlaps { get; private set; } = [];
    public static HashSet<string> Failing { get; private set; } = [];
    static ConcurrentDictionary<string, bool> running = new();

    public static void Reset()
    {
        Events = new();
        Overlaps = [];
        Failing = [];
        running = new();
    }

    public static async Task Work(string name, string? partner = null)
    {
        Events.Enqueue($"start {name}");
        running[name] = true;
        try
        {
            if (Failing.Contains(name)) throw new InvalidOperationException($"{name} failed on purpose");
            // Waits a while for the partner: it shows up only if the runner started both.
            for (int i = 0; partner is not null && i < 40; i++)
            {
                if (running.ContainsKey(partner)) { Overlaps.Add($"{name} saw {partner} running"); break; }
                await Task.Delay(10);
            }
            await Task.Delay(partner is null ? 5 : 50);
            Events.Enqueue($"end {name}");
        }
        finally { running.TryRemove(name, out _); }
    }
}

[TaskName("Fetch")]
public sealed class ProbeFetchTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context) => RunnerProbe.Work("Fetch");
}

[TaskName("Left"), IsDependentOn(typeof(ProbeFetchTask))]
public sealed class ProbeLeftTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context) => RunnerProbe.Work("Left", partner: "Right");
}

[TaskName("Right"), IsDependentOn(typeof(ProbeFetchTask))]
public sealed class ProbeRightTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context) => RunnerProbe.Work("Right", partner: "Left");
}

[TaskName("Join"), IsDependentOn(typeof(ProbeLeftTask)), IsDependentOn(typeof(ProbeRightTask))]
public sealed class ProbeJoinTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context) => RunnerProbe.Work("Join");
}

[TaskName("Other")]
public sealed class ProbeOtherTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context) => RunnerProbe.Work("Other");
}
