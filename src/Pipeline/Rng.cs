namespace Pipeline;

/// <summary>
/// Counter-based random numbers (SplitMix64): a stream is a pure function of its key (seed, output index, operation
/// index), so what output i gets never depends on which thread made it or what was drawn before. Augmentor's one
/// shared generator is why its runs differ even with a seed. <see cref="Mix"/> also derives the training seeds.
/// </summary>
public struct Rng
{
    const ulong Golden = 0x9E3779B97F4A7C15;
    ulong state;

    public Rng(int seed, long output, int operation) =>
        state = Mix(Mix(Mix((ulong)(uint)seed + Golden) ^ (ulong)output) ^ (ulong)(uint)operation);

    /// <summary>The stream that orders the source images (not tied to any output).</summary>
    public static Rng ForSourceOrder(int seed) => new(seed, -1, -1);

    public ulong Next() => Mix(state += Golden);

    /// <summary>Uniform in [0, 1), 53 bits: <c>NextDouble() &lt; p</c> fires with probability exactly p.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double probability) => NextDouble() < probability;

    public double Uniform(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>Uniform in [0, n) (Lemire's multiply-shift; the bias is below n / 2⁶⁴).</summary>
    public int Below(int n) => (int)Math.BigMul(Next(), (ulong)n, out _);

    /// <summary>Uniform in [min, max], both included.</summary>
    public int Between(int min, int max) => min + Below(max - min + 1);

    /// <summary>SplitMix64's finaliser: spreads nearby inputs (seed 1, 2, 3…) to unrelated 64-bit values.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
