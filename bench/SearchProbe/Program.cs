// The search library's samplers on standard test functions, called on a plain function (no pipeline): for each
// function, sampler and seed, one JSON line with the best value after each trial. bench/search.sh runs Optuna beside it.
// Usage: SearchProbe [--functions=branin,hartmann6,noisy-hartmann3] [--samplers=tpe,random] [--seeds=20] [--first-seed=0]
//                    [--trials=50] and TPE's settings (TpeOptions): [--univariate] [--candidates=24] [--startup=10] [--gamma=0.2] [--bandwidth=0.2]
using System.Globalization;
using System.Text.Json;
using Pipeline;
using Pipeline.Search;

var options = args.Select(a => a.TrimStart('-').Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "true");
string Option(string name, string fallback) => options.GetValueOrDefault(name, fallback);
int Whole(string name, int fallback) => int.TryParse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), out int v) && v > 0 ? v
    : throw new ArgumentException($"--{name} expects a whole number ≥ 1");
double Fraction(string name, double fallback) => double.TryParse(Option(name, fallback.ToString("R", CultureInfo.InvariantCulture)),
    NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v is > 0 and <= 1 ? v : throw new ArgumentException($"--{name} expects a number in (0, 1]");
var known = new[] { "functions", "samplers", "seeds", "trials", "univariate", "candidates", "startup", "gamma", "bandwidth", "first-seed" };
foreach (var unknown in options.Keys.Except(known))
{
    Console.Error.WriteLine($"error: unknown option --{unknown} (options: {string.Join(", ", known.Select(k => "--" + k))})");
    return 2;
}

int seeds, trials, firstSeed;
TpeOptions tpe;
try
{
    seeds = Whole("seeds", 20);
    trials = Whole("trials", 50);
    firstSeed = int.TryParse(Option("first-seed", "0"), out int first) && first >= 0 ? first : throw new ArgumentException("--first-seed expects a whole number ≥ 0");
    tpe = new TpeOptions(StartupTrials: Whole("startup", 10), Candidates: Whole("candidates", 24), Multivariate: Option("univariate", "false") != "true",
        Gamma: Fraction("gamma", 0.2), Bandwidth: Fraction("bandwidth", 0.2));
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
var functions = Option("functions", "branin,hartmann6,noisy-hartmann3").Split(',');
var samplers = Option("samplers", "tpe,random").Split(',');
foreach (var name in functions.Where(f => !TestFunctions.All.ContainsKey(f)))
{
    Console.Error.WriteLine($"error: --functions: unknown function '{name}' (functions: {string.Join(", ", TestFunctions.All.Keys)})");
    return 2;
}
foreach (var name in samplers.Where(s => !Samplers.Names.Contains(s)))
{
    Console.Error.WriteLine($"error: --samplers: unknown sampler '{name}' (samplers: {string.Join(", ", Samplers.Names)})");
    return 2;
}

foreach (var name in functions)
{
    var function = TestFunctions.All[name];
    foreach (var samplerName in samplers)
        for (int seed = firstSeed; seed < firstSeed + seeds; seed++)
        {
            ISampler sampler = samplerName == "tpe" ? new TpeSampler(seed, tpe) : new RandomSampler(seed);
            var history = new List<Observation>();
            var best = new List<double>();
            double bestObserved = double.PositiveInfinity, bestTrue = double.PositiveInfinity;
            for (int trial = 0; trial < trials; trial++)
            {
                var point = sampler.Propose(function.Space, history, trial);
                double value = function.Evaluate(point), observed = value + function.Noise * TestFunctions.Gaussian(seed, trial);
                history.Add(new Observation(point, TrialState.Complete, [observed]));
                // With noise, the best is the true value of the point whose observed value was best (what a user would pick).
                if (observed < bestObserved) (bestObserved, bestTrue) = (observed, value);
                best.Add(bestTrue);
            }
            Console.WriteLine(JsonSerializer.Serialize(new { function = name, sampler = "ours-" + samplerName, seed, best }));
        }
}
return 0;

/// <summary>Branin (2-d), Hartmann-6 and Hartmann-3 with Gaussian noise, as in the BO literature; all minimised.</summary>
static class TestFunctions
{
    public sealed record Function(SearchSpace Space, Func<double[], double> Evaluate, double Noise = 0);

    static SearchSpace Box(params (double Lo, double Hi)[] bounds) =>
        new([.. bounds.Select((b, i) => new Dimension($"x.x{i}", DimensionKind.Float, b.Lo, b.Hi, []))]);

    static double Branin(double[] x)
    {
        double a = 1, b = 5.1 / (4 * Math.PI * Math.PI), c = 5 / Math.PI, r = 6, s = 10, t = 1 / (8 * Math.PI);
        return a * Math.Pow(x[1] - b * x[0] * x[0] + c * x[0] - r, 2) + s * (1 - t) * Math.Cos(x[0]) + s;
    }

    static readonly double[] Alpha = [1.0, 1.2, 3.0, 3.2];
    static readonly double[,] H6A = { { 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 }, { 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 } };
    static readonly double[,] H6P = { { 0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886 }, { 0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991 },
        { 0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650 }, { 0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381 } };
    static readonly double[,] H3A = { { 3, 10, 30 }, { 0.1, 10, 35 }, { 3, 10, 30 }, { 0.1, 10, 35 } };
    static readonly double[,] H3P = { { 0.3689, 0.1170, 0.2673 }, { 0.4699, 0.4387, 0.7470 }, { 0.1091, 0.8732, 0.5547 }, { 0.0381, 0.5743, 0.8828 } };

    static double Hartmann(double[] x, double[,] a, double[,] p)
    {
        double sum = 0;
        for (int i = 0; i < 4; i++)
        {
            double inner = 0;
            for (int j = 0; j < x.Length; j++) inner += a[i, j] * Math.Pow(x[j] - p[i, j], 2);
            sum += Alpha[i] * Math.Exp(-inner);
        }
        return -sum;
    }

    // After the constants it reads: static fields initialise in order.
    public static readonly Dictionary<string, Function> All = new()
    {
        ["branin"] = new(Box((-5, 10), (0, 15)), Branin),
        ["hartmann6"] = new(Box([.. Enumerable.Repeat((0.0, 1.0), 6)]), x => Hartmann(x, H6A, H6P)),
        ["noisy-hartmann3"] = new(Box([.. Enumerable.Repeat((0.0, 1.0), 3)]), x => Hartmann(x, H3A, H3P), Noise: 0.1),
    };

    /// <summary>The noise of trial <paramref name="trial"/> under <paramref name="seed"/> (Box–Muller on SplitMix64): bench/search.sh's Python side draws the same.</summary>
    public static double Gaussian(int seed, int trial)
    {
        var rng = new Rng(seed, trial, 7);
        double u1 = rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(1 - u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
