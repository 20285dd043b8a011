namespace Pipeline.Search;

/// <summary>
/// Stops a trial that is clearly behind. It sees the trial's losses per epoch so far and the earlier trials' (complete or
/// pruned) losses per epoch; it answers why the trial stops, or null. Losses: lower is better (an accuracy is negated).
/// </summary>
public interface IPruner
{
    string Name { get; }

    /// <summary>The last epoch no trial is stopped at: pruning needs a run of more epochs than this.</summary>
    int WarmupEpochs { get; }

    string? Prune(int epoch, IReadOnlyDictionary<int, double> trial, IReadOnlyList<IReadOnlyDictionary<int, double>> earlier);
}

/// <summary>
/// Optuna's <c>MedianPruner</c>: after <paramref name="warmupEpochs"/> epochs, stops a trial whose best loss so far is
/// worse than the median of the earlier trials' losses at the same epoch, once <paramref name="startupTrials"/> earlier
/// trials reached that epoch.
/// </summary>
public sealed class MedianPruner(int warmupEpochs = 1, int startupTrials = 4) : IPruner
{
    public string Name => "median";
    public int WarmupEpochs => warmupEpochs;

    public string? Prune(int epoch, IReadOnlyDictionary<int, double> trial, IReadOnlyList<IReadOnlyDictionary<int, double>> earlier)
    {
        if (epoch <= warmupEpochs) return null;
        var others = earlier.Where(h => h.ContainsKey(epoch)).Select(h => h[epoch]).Order().ToList();
        if (others.Count < startupTrials) return null;
        double median = others.Count % 2 == 1 ? others[others.Count / 2] : (others[others.Count / 2 - 1] + others[others.Count / 2]) / 2;
        double best = trial.Where(p => p.Key <= epoch).Min(p => p.Value);
        return best > median ? $"its best at epoch {epoch} is behind the median of {others.Count} earlier trials there" : null;
    }
}

/// <summary>
/// Asynchronous successive halving (ASHA, Optuna's <c>SuccessiveHalvingPruner</c>): rungs at epochs
/// (warm-up + 1)·η^r; at a rung a trial goes on only if its loss there is within the best 1/η of every trial's that
/// reached the rung, itself included (the best one while fewer than η have).
/// </summary>
public sealed class HalvingPruner(int warmupEpochs = 1, int eta = 3) : IPruner
{
    public string Name => "halving";
    public int WarmupEpochs => warmupEpochs;

    public bool IsRung(int epoch)
    {
        for (long rung = warmupEpochs + 1; rung <= epoch; rung *= eta)
            if (rung == epoch) return true;
        return false;
    }

    public string? Prune(int epoch, IReadOnlyDictionary<int, double> trial, IReadOnlyList<IReadOnlyDictionary<int, double>> earlier)
    {
        if (!IsRung(epoch) || !trial.TryGetValue(epoch, out double loss)) return null;
        var competing = earlier.Where(h => h.ContainsKey(epoch)).Select(h => h[epoch]).Append(loss).Order().ToList();
        int promoted = Math.Max(1, competing.Count / eta);
        return loss > competing[promoted - 1] ? $"at rung epoch {epoch} it is outside the best 1/{eta} of {competing.Count} trials" : null;
    }
}

public static class Pruners
{
    public static readonly string[] Names = ["median", "halving"];

    public static IPruner Create(string name) => name switch
    {
        "median" => new MedianPruner(),
        "halving" => new HalvingPruner(),
        _ => throw new SearchException($"--prune={name}: expected one of {string.Join(", ", Names)}"),
    };
}

/// <summary>Thrown from the epoch observer to stop a trial that is behind: the host records it as pruned, not failed.</summary>
public sealed class TrialPrunedException(string message) : PipelineException(message);
