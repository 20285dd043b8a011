namespace Pipeline.Search;

/// <summary>Pareto fronts of losses (every objective minimised).</summary>
public static class Pareto
{
    /// <summary>Whether <paramref name="a"/> is no worse than <paramref name="b"/> in every objective and better in one.</summary>
    public static bool Dominates(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        bool better = false;
        for (int k = 0; k < a.Count; k++)
        {
            if (a[k] > b[k]) return false;
            if (a[k] < b[k]) better = true;
        }
        return better;
    }

    /// <summary>Each point's front: 0 for the non-dominated ones, 1 for those only they dominate, and so on.</summary>
    public static int[] Fronts(IReadOnlyList<IReadOnlyList<double>> losses)
    {
        var front = Enumerable.Repeat(-1, losses.Count).ToArray();
        for (int rank = 0, left = losses.Count; left > 0; rank++)
        {
            var current = Enumerable.Range(0, losses.Count).Where(i => front[i] < 0
                && !Enumerable.Range(0, losses.Count).Any(j => j != i && front[j] < 0 && Dominates(losses[j], losses[i]))).ToList();
            foreach (int i in current) front[i] = rank;
            left -= current.Count;
        }
        return front;
    }
}
