namespace Pipeline.Search;

/// <summary>
/// TPE's settings, Optuna's <c>TPESampler</c> defaults but two: <see cref="StartupTrials"/> random trials first; then the
/// best γ(n) = min(⌈<see cref="Gamma"/>·n⌉, 25) trials make l(x), the rest g(x); <see cref="Candidates"/> draws from l(x),
/// and the one with the highest l(x)/g(x) is proposed. Unlike Optuna's defaults, γ is 0.2 (Optuna 0.1; Bergstra et al.
/// used 0.15, hyperopt 0.25) and <see cref="Multivariate"/> is on: one joint kernel per trial over all dimensions (Optuna's
/// <c>multivariate=True</c>, bandwidth <see cref="Bandwidth"/>·n^(−1/(d+4))·range); both measured in docs/search.md.
/// </summary>
public sealed record TpeOptions(int StartupTrials = 10, int Candidates = 24, bool Multivariate = true, double PriorWeight = 1.0, double Gamma = 0.2, double Bandwidth = 0.2);

/// <summary>
/// The Tree-structured Parzen Estimator (Bergstra et al. 2011), as Optuna's <c>TPESampler</c> builds it: kernels are normals
/// truncated to the bounds (log dimensions in log space; int dimensions widened by ½ and measured over their cell),
/// one kernel per observation plus a prior kernel over the whole range; bandwidths by the distance to the neighbours
/// (univariate) or by Scott's rule as in BOHB (multivariate), clipped to [range / min(100, n + 1), range] ("magic clip");
/// weights flat for the last 25 trials and ramping down for older ones; choices as smoothed counts. Trials are ranked
/// complete first by loss, then pruned ones by the epoch reached (later first) and loss, then running ones (constant liar:
/// a running trial counts as a bad one, so a batch proposed while trials run spreads out). With several objectives the
/// ranking is by Pareto front, then by the sum of each objective's rank within the front.
/// </summary>
public sealed class TpeSampler(int seed, TpeOptions? options = null) : ISampler
{
    readonly TpeOptions options = options ?? new TpeOptions();

    public string Name => "tpe";

    public TpeOptions Options => options;

    public double[] Propose(SearchSpace space, IReadOnlyList<Observation> history, int number)
    {
        var rng = new Rng(seed, number, 0);
        var usable = history.Where(o => o.State != TrialState.Failed).ToList();
        if (usable.Count(o => o.State != TrialState.Running) < options.StartupTrials)
            return space.Snap(space.Uniform(ref rng));

        var order = Rank(usable);
        int belowCount = Math.Min((int)Math.Ceiling(options.Gamma * usable.Count), 25);
        var belowSet = order.Take(belowCount).ToHashSet();
        // Both groups stay in trial order: the weights favour the later trials.
        var below = Enumerable.Range(0, usable.Count).Where(belowSet.Contains).Select(i => usable[i].Point).ToList();
        var above = Enumerable.Range(0, usable.Count).Where(i => !belowSet.Contains(i)).Select(i => usable[i].Point).ToList();

        var point = new double[space.Dimensions.Count];
        var groups = options.Multivariate ? [Enumerable.Range(0, point.Length).ToArray()]
            : Enumerable.Range(0, point.Length).Select(i => new[] { i }).ToList();
        foreach (var dims in groups)
        {
            var subspace = dims.Select(i => space.Dimensions[i]).ToArray();
            var l = new ParzenEstimator(subspace, [.. below.Select(p => dims.Select(i => p[i]).ToArray())], options);
            var g = new ParzenEstimator(subspace, [.. above.Select(p => dims.Select(i => p[i]).ToArray())], options);
            double[]? best = null;
            double bestScore = double.NegativeInfinity;
            for (int c = 0; c < options.Candidates; c++)
            {
                var candidate = l.Sample(ref rng);
                double score = l.LogPdf(candidate) - g.LogPdf(candidate);
                if (best is null || score > bestScore) (best, bestScore) = (candidate, score);
            }
            for (int j = 0; j < dims.Length; j++) point[dims[j]] = best![j];
        }
        return space.Snap(point);
    }

    /// <summary>Indices of the observations, best first.</summary>
    static List<int> Rank(IReadOnlyList<Observation> observations)
    {
        var complete = Enumerable.Range(0, observations.Count).Where(i => observations[i].State == TrialState.Complete).ToList();
        var ranked = new List<int>();
        if (complete.Count > 0 && observations[complete[0]].Losses!.Count > 1)
        {
            var losses = complete.Select(i => observations[i].Losses!).ToList();
            var fronts = Pareto.Fronts(losses);
            var within = Enumerable.Range(0, losses[0].Count)
                .Select(k => losses.Select(l => losses.Count(o => o[k] < l[k])).ToArray()).ToList();
            ranked.AddRange(Enumerable.Range(0, complete.Count).OrderBy(j => fronts[j]).ThenBy(j => within.Sum(r => r[j])).Select(j => complete[j]));
        }
        else
            ranked.AddRange(complete.OrderBy(i => observations[i].Losses![0]));
        ranked.AddRange(Enumerable.Range(0, observations.Count).Where(i => observations[i].State == TrialState.Pruned)
            .OrderByDescending(i => observations[i].Step).ThenBy(i => observations[i].Losses is { Count: > 0 } l ? l[0] : double.PositiveInfinity));
        ranked.AddRange(Enumerable.Range(0, observations.Count).Where(i => observations[i].State == TrialState.Running));
        return ranked;
    }
}

/// <summary>A weighted mixture of one kernel per observation and a prior kernel (see <see cref="TpeSampler"/>).</summary>
sealed class ParzenEstimator
{
    readonly Dimension[] dims;
    readonly double[] weights;     // per component (observations, then the prior)
    readonly double[] lows, highs; // per dimension, in the kernels' space
    readonly double[][] mus, sigmas; // [dimension][component]; choices: unused
    readonly double[][][] choiceWeights; // [dimension][component][choice]

    public ParzenEstimator(Dimension[] dims, IReadOnlyList<double[]> observations, TpeOptions options)
    {
        this.dims = dims;
        int n = observations.Count, components = n + 1;
        weights = new double[components];
        for (int i = 0; i < n; i++)
            weights[i] = n < 25 || i >= n - 25 ? 1 : 1.0 / n + (1 - 1.0 / n) * i / Math.Max(1, n - 26);
        weights[n] = options.PriorWeight;
        double total = weights.Sum();
        for (int i = 0; i < components; i++) weights[i] /= total;

        lows = new double[dims.Length];
        highs = new double[dims.Length];
        mus = new double[dims.Length][];
        sigmas = new double[dims.Length][];
        choiceWeights = new double[dims.Length][][];
        for (int d = 0; d < dims.Length; d++)
        {
            var dim = dims[d];
            if (dim.Kind == DimensionKind.Choice)
            {
                int k = dim.Choices.Count;
                choiceWeights[d] = new double[components][];
                for (int i = 0; i < components; i++)
                {
                    var w = Enumerable.Repeat(options.PriorWeight / components, k).ToArray();
                    if (i < n) w[(int)observations[i][d]] += 1;
                    double sum = w.Sum();
                    choiceWeights[d][i] = [.. w.Select(v => v / sum)];
                }
                continue;
            }
            (lows[d], highs[d]) = dim.Kind switch
            {
                DimensionKind.Log => (Math.Log(dim.Low), Math.Log(dim.High)),
                DimensionKind.Int => (dim.Low - 0.5, dim.High + 0.5),
                _ => (dim.Low, dim.High),
            };
            double low = lows[d], high = highs[d], range = high - low;
            var mu = new double[components];
            for (int i = 0; i < n; i++) mu[i] = ToKernel(dim, observations[i][d]);
            mu[n] = (low + high) / 2;
            var sigma = new double[components];
            if (options.Multivariate)
                Array.Fill(sigma, options.Bandwidth * Math.Pow(Math.Max(n, 1), -1.0 / (dims.Length + 4)) * range);
            else
            {
                // The larger distance to a neighbour (the bounds included), endpoints by their inner neighbour.
                var sorted = Enumerable.Range(0, components).OrderBy(i => mu[i]).ToArray();
                var withEnds = new double[components + 2];
                withEnds[0] = low;
                withEnds[^1] = high;
                for (int j = 0; j < components; j++) withEnds[j + 1] = mu[sorted[j]];
                for (int j = 0; j < components; j++)
                {
                    double s = Math.Max(withEnds[j + 1] - withEnds[j], withEnds[j + 2] - withEnds[j + 1]);
                    if (withEnds.Length >= 4 && j == 0) s = withEnds[2] - withEnds[1];
                    if (withEnds.Length >= 4 && j == components - 1) s = withEnds[^2] - withEnds[^3];
                    sigma[sorted[j]] = s;
                }
            }
            double minSigma = range / Math.Min(100.0, 1.0 + components);
            for (int i = 0; i < components; i++) sigma[i] = Math.Clamp(sigma[i], minSigma, range);
            sigma[n] = range;
            mus[d] = mu;
            sigmas[d] = sigma;
        }
    }

    static double ToKernel(Dimension dim, double x) => dim.Kind == DimensionKind.Log ? Math.Log(x) : x;

    static double FromKernel(Dimension dim, double y) => dim.Kind switch
    {
        DimensionKind.Log => Math.Clamp(Math.Exp(y), dim.Low, dim.High),
        DimensionKind.Int => Math.Clamp(Math.Round(y), dim.Low, dim.High),
        _ => Math.Clamp(y, dim.Low, dim.High),
    };

    public double[] Sample(ref Rng rng)
    {
        int active = Pick(weights, rng.NextDouble());
        var point = new double[dims.Length];
        for (int d = 0; d < dims.Length; d++)
        {
            if (dims[d].Kind == DimensionKind.Choice)
            {
                point[d] = Pick(choiceWeights[d][active], rng.NextDouble());
                continue;
            }
            double mu = mus[d][active], sigma = sigmas[d][active];
            double z = Normal.SampleTruncated((lows[d] - mu) / sigma, (highs[d] - mu) / sigma, rng.NextDouble());
            point[d] = FromKernel(dims[d], mu + sigma * z);
        }
        return point;
    }

    public double LogPdf(double[] point)
    {
        var terms = new double[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            double sum = Math.Log(weights[i]);
            for (int d = 0; d < dims.Length; d++)
            {
                var dim = dims[d];
                if (dim.Kind == DimensionKind.Choice)
                {
                    sum += Math.Log(choiceWeights[d][i][(int)point[d]]);
                    continue;
                }
                double mu = mus[d][i], sigma = sigmas[d][i], a = (lows[d] - mu) / sigma, b = (highs[d] - mu) / sigma;
                if (dim.Kind == DimensionKind.Int)
                {
                    // The kernel's mass over the whole number's cell [x − ½, x + ½].
                    double lower = Math.Max(point[d] - 0.5, lows[d]), upper = Math.Min(point[d] + 0.5, highs[d]);
                    sum += Normal.LogMass((lower - mu) / sigma, (upper - mu) / sigma) - Normal.LogMass(a, b);
                }
                else
                    sum += Normal.LogPdfTruncated((ToKernel(dim, point[d]) - mu) / sigma, a, b) - Math.Log(sigma);
            }
            terms[i] = sum;
        }
        double max = terms.Max();
        return max + Math.Log(terms.Sum(t => Math.Exp(t - max)));
    }

    static int Pick(double[] probabilities, double u)
    {
        double cumulative = 0;
        for (int i = 0; i < probabilities.Length; i++)
            if (u < (cumulative += probabilities[i])) return i;
        return probabilities.Length - 1;
    }
}
