namespace Pipeline.Stages;

/// <summary>Whether a stage must run, and why, in words a user reads in <c>--dryrun</c> and the run summary.</summary>
public sealed record StageStatus(bool UpToDate, IReadOnlyList<string> Reasons)
{
    public string Reason => string.Join("; ", Reasons);

    public static StageStatus Current() => new(true, ["up to date"]);

    public static StageStatus Stale(params string[] reasons) => new(false, reasons);
}

/// <summary>A stage cannot be checked or run; the message says which stage and what is wrong.</summary>
public sealed class StageException(string message, Exception? inner = null) : PipelineException(message, inner);
