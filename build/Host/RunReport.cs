using System.Text;
using System.Text.Json.Nodes;
using Pipeline.Stages;

namespace Build.Host;

public enum TaskOutcome { Executed, Restored, RestoredRemote, UpToDate, NotNeeded, WouldRun, WouldRestore, WouldRestoreShared, Failed }

/// <summary>What happened to each task of the run, for the summary table at the end.</summary>
public sealed class RunReport
{
    public sealed record Entry(string Task, TaskOutcome Outcome, string Reason, TimeSpan Duration);

    readonly List<Entry> entries = [];

    /// <summary>A copy of the entries so far, taken under the lock <see cref="Add"/> holds (tasks may finish at the same time under --jobs); <see cref="ToTable"/> reads this copy.</summary>
    public IReadOnlyList<Entry> Entries { get { lock (entries) return [.. entries]; } }

    public void Add(string task, TaskOutcome outcome, TimeSpan duration, string? reason = null)
    {
        lock (entries) entries.Add(new Entry(task, outcome, reason ?? "", duration));
    }

    /// <summary>How the JSON report names an outcome; stable, for scripts.</summary>
    public static string Name(TaskOutcome outcome) => outcome switch
    {
        TaskOutcome.Executed => "executed",
        TaskOutcome.Restored => "restored-local",
        TaskOutcome.RestoredRemote => "restored-shared",
        TaskOutcome.UpToDate => "up-to-date",
        TaskOutcome.NotNeeded => "not-needed",
        TaskOutcome.WouldRun => "would-run",
        TaskOutcome.WouldRestore => "would-restore-local",
        TaskOutcome.WouldRestoreShared => "would-restore-shared",
        _ => "failed",
    };

    /// <summary>How the summary table and the log say an outcome, for people.</summary>
    public static string Describe(TaskOutcome outcome) => outcome switch
    {
        TaskOutcome.Executed => "executed",
        TaskOutcome.Restored => "restored (cache)",
        TaskOutcome.RestoredRemote => "restored (remote cache)",
        TaskOutcome.UpToDate => "skipped (up to date)",
        TaskOutcome.NotNeeded => "skipped (not needed)",
        TaskOutcome.WouldRun => "would run",
        TaskOutcome.WouldRestore => "would restore (cache)",
        TaskOutcome.WouldRestoreShared => "would restore (shared cache)",
        _ => "FAILED",
    };

    /// <summary>
    /// The run as JSON (<c>--report=FILE</c>, <c>--dryrun --format=json</c>): the target, exit code and wall time, and per
    /// task its result, reason and duration; a stage's with the fingerprint and output hash of its current record
    /// (null where the stage has none: failed, would run).
    /// </summary>
    public JsonObject ToJson(string target, int exitCode, TimeSpan wall, Func<string, StageRecord?> recordOf)
    {
        var tasks = new JsonArray();
        foreach (var e in Entries)
        {
            var record = e.Outcome is TaskOutcome.Executed or TaskOutcome.Restored or TaskOutcome.RestoredRemote or TaskOutcome.UpToDate
                ? recordOf(e.Task) : null;
            tasks.Add(new JsonObject
            {
                ["task"] = e.Task,
                ["result"] = Name(e.Outcome),
                ["reason"] = e.Reason,
                ["duration_seconds"] = Math.Round(e.Duration.TotalSeconds, 3),
                ["fingerprint"] = record?.Fingerprint,
                ["output_hash"] = record?.OutputHash,
            });
        }
        return new JsonObject
        {
            ["target"] = target,
            ["exit_code"] = exitCode,
            ["wall_seconds"] = Math.Round(wall.TotalSeconds, 3),
            ["tasks"] = tasks,
        };
    }

    /// <summary>The table; with <paramref name="wall"/>, a last line with the wall time beside the sum of the tasks' times.</summary>
    public string ToTable(TimeSpan? wall = null)
    {
        var entries = Entries;
        var rows = entries.Select(e => (e.Task, Outcome: Describe(e.Outcome), Duration: $"{e.Duration.TotalSeconds:0.00} s", e.Reason)).ToList();
        int task = Math.Max(4, rows.Max(r => r.Task.Length)), outcome = Math.Max(6, rows.Max(r => r.Outcome.Length));
        var text = new StringBuilder();
        text.AppendLine($"{"Task".PadRight(task)}  {"Result".PadRight(outcome)}  {"Duration",9}  Reason");
        text.AppendLine($"{new string('-', task)}  {new string('-', outcome)}  {new string('-', 9)}  ------");
        foreach (var r in rows)
            text.AppendLine($"{r.Task.PadRight(task)}  {r.Outcome.PadRight(outcome)}  {r.Duration,9}  {r.Reason}");
        if (wall is { } w)
            text.AppendLine($"\nwall time {w.TotalSeconds:0.00} s; the tasks' times add up to {entries.Sum(e => e.Duration.TotalSeconds):0.00} s");
        return text.ToString().TrimEnd();
    }
}
