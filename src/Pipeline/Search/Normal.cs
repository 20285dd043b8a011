namespace Pipeline.Search;

/// <summary>The standard normal distribution, computed in logs where tails would underflow; TPE's kernels are truncated normals.</summary>
static class Normal
{
    const double LogSqrt2Pi = 0.91893853320467274178;

    /// <summary>log erfc(x) for x ≥ 0 (Numerical Recipes' erfcc, relative error below 1.2e-7), finite far into the tail.</summary>
    static double LogErfc(double x)
    {
        double t = 1 / (1 + 0.5 * x);
        return Math.Log(t) - x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    }

    /// <summary>log P(Z &gt; z).</summary>
    static double LogUpper(double z) => z >= 0 ? LogErfc(z / Math.Sqrt(2)) - Math.Log(2) : double.LogP1(-Math.Exp(LogErfc(-z / Math.Sqrt(2)) - Math.Log(2)));

    public static double Cdf(double z) => z >= 0 ? 1 - Math.Exp(LogUpper(z)) : Math.Exp(LogUpper(-z));

    /// <summary>log P(a &lt; Z &lt; b), accurate when both bounds are deep in one tail.</summary>
    public static double LogMass(double a, double b)
    {
        if (a >= 0) return LogUpper(a) + double.LogP1(-Math.Exp(Math.Min(0, LogUpper(b) - LogUpper(a))));
        if (b <= 0) return LogMass(-b, -a);
        return Math.Log(Math.Max(1e-300, 1 - Math.Exp(LogUpper(b)) - Math.Exp(LogUpper(-a))));
    }

    /// <summary>The log density at z of a normal truncated to [a, b] (all in standard units).</summary>
    public static double LogPdfTruncated(double z, double a, double b) => -0.5 * z * z - LogSqrt2Pi - LogMass(a, b);

    /// <summary>A draw from the standard normal truncated to [a, b] by inverting its CDF; <paramref name="u"/> is uniform in [0, 1).</summary>
    public static double SampleTruncated(double a, double b, double u)
    {
        double z;
        if (a >= 0)
        {
            double qa = Math.Exp(LogUpper(a)), qb = Math.Exp(LogUpper(b));
            z = -Quantile(qb + u * (qa - qb));
        }
        else if (b <= 0) return -SampleTruncated(-b, -a, u);
        else
        {
            double pa = Cdf(a), pb = Cdf(b);
            z = Quantile(pa + u * (pb - pa));
        }
        return double.IsFinite(z) ? Math.Clamp(z, a, b) : (a + b) / 2;
    }

    /// <summary>The inverse CDF (Acklam's rational approximation and one Halley step).</summary>
    public static double Quantile(double p)
    {
        if (p <= 0) return double.NegativeInfinity;
        if (p >= 1) return double.PositiveInfinity;
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        double x;
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        else if (p > 1 - 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        else
        {
            double q = p - 0.5, r = q * q;
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
        double e = Cdf(x) - p, u = e * Math.Sqrt(2 * Math.PI) * Math.Exp(x * x / 2);
        return x - u / (1 + x * u / 2);
    }
}
