namespace Pipeline.Search;

/// <summary>Where a trial stands: running (proposed, no result yet), complete, pruned after some epochs, or failed.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TrialState>))]
public enum TrialState
{
    [System.Text.Json.Serialization.JsonStringEnumMemberName("running")] Running,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("complete")] Complete,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("pruned")] Pruned,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("failed")] Failed,
}

/// <summary>
/// What a sampler learns from an earlier trial: its point, its state and its losses (each objective turned into one to
/// minimise); a pruned trial's single loss is its metric at the last epoch it reached (<paramref name="Step"/>).
/// </summary>
public sealed record Observation(IReadOnlyList<double> Point, TrialState State, IReadOnlyList<double>? Losses = null, int Step = 0);

/// <summary>
/// Proposes the point of trial <c>number</c> from the earlier trials, snapped into the space (<see cref="SearchSpace.Snap"/>);
/// the same seed, history and number give the same point.
/// </summary>
public interface ISampler
{
    string Name { get; }
    double[] Propose(SearchSpace space, IReadOnlyList<Observation> history, int number);
}

/// <summary>Every point uniform over the space (log-uniform on log dimensions), independent of the history.</summary>
public sealed class RandomSampler(int seed) : ISampler
{
    public string Name => "random";

    public double[] Propose(SearchSpace space, IReadOnlyList<Observation> history, int number)
    {
        var rng = new Rng(seed, number, 0);
        return space.Snap(space.Uniform(ref rng));
    }
}

/// <summary>Picks a sampler by its command-line name.</summary>
public static class Samplers
{
    public static readonly string[] Names = ["random", "tpe"];

    public static ISampler Create(string name, int seed) => name switch
    {
        "random" => new RandomSampler(seed),
        "tpe" => new TpeSampler(seed),
        _ => throw new SearchException($"--search={name}: expected one of {string.Join(", ", Names)}"),
    };
}
