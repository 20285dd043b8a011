using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Stages;

/// <summary>
/// The <c>slurm</c> section: how <c>--executor=slurm</c> asks Slurm for its tasks. None of it shapes an output.
/// </summary>
[Parameters.ParameterSection("slurm")]
public sealed partial record SlurmParameters : Parameters.IValidatedParameters
{
    /// <summary><c>sbatch --partition</c>; "" = the cluster's default partition.</summary>
    public string Partition { get; init; } = "";
    /// <summary><c>sbatch --time</c> per task (minutes, <c>H:MM:SS</c> or <c>D-HH:MM:SS</c>); "" = the partition's limit.</summary>
    public string TimeLimit { get; init; } = "";
    /// <summary><c>sbatch --cpus-per-task</c>; a task's stage uses this many threads where its threads parameter is 0.</summary>
    public int CpusPerTask { get; init; } = 1;
    /// <summary>At most this many tasks of a job run at once (<c>--array=…%N</c>); 0 = as many as the cluster gives.</summary>
    public int MaxRunning { get; init; }
    /// <summary>More <c>sbatch</c> options, e.g. <c>["--account=ml", "--mem=4G"]</c>.</summary>
    public string[] ExtraArgs { get; init; } = [];
    /// <summary>Seconds between two looks at the job (<c>squeue</c>).</summary>
    public double PollSeconds { get; init; } = 1;

    /// <summary>Options the executor sets itself.</summary>
    static readonly string[] Reserved = ["--array", "-a", "--output", "-o", "--error", "-e", "--parsable", "--wrap", "--chdir", "-D", "--job-name", "-J", "--wait", "-W"];

    public IEnumerable<string> Validate()
    {
        if (!TimeLimitPattern().IsMatch(TimeLimit))
            yield return $"time_limit must be minutes, H:MM:SS or D-HH[:MM[:SS]] as sbatch --time takes it, or \"\", got '{TimeLimit}'";
        if (CpusPerTask is < 1 or > 1024) yield return $"cpus_per_task must be between 1 and 1024, got {CpusPerTask}";
        if (MaxRunning < 0) yield return $"max_running must be ≥ 0 (0 = no limit), got {MaxRunning}";
        if (!(PollSeconds is >= 0.1 and <= 600)) yield return $"poll_seconds must be between 0.1 and 600, got {PollSeconds}";
        if (Partition.Any(c => char.IsWhiteSpace(c) || c == ',')) yield return $"partition must be one partition's name, got '{Partition}'";
        foreach (var arg in ExtraArgs)
        {
            string name = arg.Split('=', 2)[0];
            if (!arg.StartsWith('-')) yield return $"extra_args: '{arg}' is not an sbatch option (they start with -, e.g. \"--mem=4G\")";
            else if (Reserved.Contains(name)) yield return $"extra_args: {name} is set by the executor";
        }
    }

    [GeneratedRegex(@"^(|\d+|\d+:\d{2}(:\d{2})?|\d+-\d{1,2}(:\d{2}(:\d{2})?)?)$")]
    private static partial Regex TimeLimitPattern();
}

/// <summary>How a task of a Slurm job ended (<c>scontrol show job</c>): its state and exit code.</summary>
public sealed record SlurmTask(int Index, string State, string ExitCode)
{
    public bool Completed => State == "COMPLETED";

    /// <summary>"ended FAILED, exit code 1" or, for a task killed by a signal ("0:9"), "ended CANCELLED (signal 9)".</summary>
    public string Ending => ExitCode.Split(':') is [var code, var signal] && signal != "0"
        ? $"ended {State} (signal {signal})" : $"ended {State}, exit code {ExitCode.Split(':')[0]}";
}

/// <summary>
/// Slurm through its own commands: <c>sbatch</c> submits an array job, <c>squeue</c> is polled until none of its tasks is
/// pending or running (<c>sbatch --wait</c> polls too slowly), <c>scontrol show job</c> says how each task ended,
/// <c>scancel</c> cancels. Logs go where <see cref="LogFile"/> says.
/// </summary>
public sealed partial class SlurmCluster(SlurmParameters parameters)
{
    /// <summary>A task's log file: <c>slurm-&lt;job&gt;_&lt;task&gt;.out</c> in the job's log folder.</summary>
    public static string LogFile(string logs, string job, int task) => Path.Combine(logs, $"slurm-{job}_{task}.out");

    /// <summary>Submits <paramref name="script"/> as one array job of the tasks <paramref name="tasks"/>; returns the job id.</summary>
    public string Submit(string script, IReadOnlyList<int> tasks, string name, string logs, string workingDirectory)
    {
        Directory.CreateDirectory(logs);
        var args = new List<string>
        {
            "--parsable", $"--job-name={name}", $"--array={Array(tasks)}",
            $"--output={Path.Combine(logs, "slurm-%A_%a.out")}", $"--chdir={workingDirectory}",
            $"--cpus-per-task={parameters.CpusPerTask}",
        };
        if (parameters.Partition.Length > 0) args.Add($"--partition={parameters.Partition}");
        if (parameters.TimeLimit.Length > 0) args.Add($"--time={parameters.TimeLimit}");
        args.AddRange(parameters.ExtraArgs);
        args.Add(script);
        var (code, output, error) = Run("sbatch", args);
        if (code != 0)
            throw new StageException($"sbatch refused the job (exit code {code}): {error.Trim()}");
        // --parsable prints "<job id>[;<cluster>]".
        return output.Trim().Split(';')[0];
    }

    /// <summary>What <c>--array</c> gets: the tasks, and <c>%max_running</c> when that is set.</summary>
    public string Array(IReadOnlyList<int> tasks) => $"{ArraySpec(tasks)}{(parameters.MaxRunning > 0 ? $"%{parameters.MaxRunning}" : "")}";

    /// <summary>"0-3", "2" or "0,2-3": the tasks as sbatch's --array takes them.</summary>
    public static string ArraySpec(IReadOnlyList<int> tasks)
    {
        var parts = new List<string>();
        for (int i = 0; i < tasks.Count;)
        {
            int j = i;
            while (j + 1 < tasks.Count && tasks[j + 1] == tasks[j] + 1) j++;
            parts.Add(i == j ? $"{tasks[i]}" : $"{tasks[i]}-{tasks[j]}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }

    /// <summary>
    /// Polls <c>squeue</c> until no task of the job is pending or running, telling <paramref name="progress"/> the
    /// counts when they change; then how each task ended. Cancelling cancels the job.
    /// </summary>
    public async Task<IReadOnlyList<SlurmTask>> WaitAsync(string job, int tasks, Action<string> progress, CancellationToken cancellation)
    {
        string? said = null;
        try
        {
            while (true)
            {
                var (code, output, error) = Run("squeue", ["-h", "-r", "-j", job, "-o", "%K %T"]);
                if (code != 0 && !error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
                    throw new StageException($"squeue failed for Slurm job {job} (exit code {code}): {error.Trim()}");
                var states = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[^1]).ToList();
                if (states.Count == 0)
                {
                    // squeue may not list a job it has just accepted: the controller's own record says whether it is over.
                    if (!Ended(job).Any(t => t.State is "PENDING" or "CONFIGURING" or "RUNNING" or "COMPLETING")) break;
                    await Task.Delay(TimeSpan.FromSeconds(parameters.PollSeconds), cancellation);
                    continue;
                }
                int running = states.Count(s => s is "RUNNING" or "COMPLETING");
                string now = $"Slurm job {job}: {tasks - states.Count} of {tasks} tasks ended, {running} running, {states.Count - running} pending";
                if (now != said) progress(said = now);
                await Task.Delay(TimeSpan.FromSeconds(parameters.PollSeconds), cancellation);
            }
        }
        catch (OperationCanceledException)
        {
            Run("scancel", [job]);
            throw;
        }
        return Ended(job);
    }

    /// <summary>How each task of the job ended, from <c>scontrol show job</c> (empty once Slurm has forgotten the job).</summary>
    public static IReadOnlyList<SlurmTask> Ended(string job)
    {
        var (code, output, _) = Run("scontrol", ["-o", "show", "job", job]);
        if (code != 0) return [];
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => TaskLine().Match(line)).Where(m => m.Success)
            .Select(m => new SlurmTask(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value, m.Groups[3].Value))];
    }

    [GeneratedRegex(@"\bArrayTaskId=(\d+)\b.*\bJobState=(\S+).*\bExitCode=(\S+)")]
    private static partial Regex TaskLine();

    /// <summary>Why Slurm cannot be used here (no <c>sbatch</c>, or no controller answers), or null.</summary>
    public static string? Unavailable()
    {
        try
        {
            var (code, _, error) = Run("sinfo", ["-h", "-o", "%T"]);
            return code == 0 ? null : $"sinfo failed: {error.Trim()}";
        }
        catch (StageException e)
        {
            return e.Message;
        }
    }

    static (int Code, string Output, string Error) Run(string command, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new StageException($"{command} not found: --executor=slurm needs Slurm's commands on PATH (Debian: apt-get install slurm-client; a local cluster: build/slurm/local-cluster.sh start)");
        }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, error.Result);
        }
    }
}
