using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Pipeline.Training.Models;

/// <summary>
/// A 3×3 convolution (stride 1, no padding) and its ReLU as one pass each way, for the small first layer of the
/// reference model: libtorch runs them as four passes over the activation (convolution, ReLU; ReLU's gradient, the
/// weight gradient), each reading or writing the whole 44 MB of a 512-image batch. Here the forward writes the
/// activation once, with one bit per value for where it is positive, and the backward reads the gradient once with
/// those bits to give the weight and bias gradients. Vectors of 8 (AVX2; other CPUs run the same arithmetic in
/// software). Sums run in a fixed order (per image, then over images in index order): the same bits run to run,
/// whatever the thread count.
/// </summary>
public static class ConvRelu
{
    const int K = 3;
    static readonly int Lanes = Vector256<float>.Count;

    /// <summary>The lanes a positive-bit byte selects: entry m has lane l set where bit l of m is.</summary>
    static readonly Vector256<float>[] ByteMasks = [.. Enumerable.Range(0, 256).Select(m =>
        Vector256.Create([.. Enumerable.Range(0, Lanes).Select(l => (m >> l & 1) != 0 ? -1 : 0)]).AsSingle())];

    /// <summary>relu(conv2d(x, weight, bias)) with gradients for weight and bias (and x, when it needs one).</summary>
    public static Tensor Apply(Tensor x, Tensor weight, Tensor bias) => Function.apply(x, weight, bias);

    /// <summary>True when this shape runs here: float32 on the CPU, 3×3 kernels, an output row at least one vector wide.</summary>
    public static bool Handles(Tensor x, Tensor weight) =>
        x.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU && x.dim() == 4 && weight.dim() == 4
        && weight.shape[2] == K && weight.shape[3] == K && x.shape[3] - K + 1 >= Lanes;

    sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => "ConvRelu";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, weight, bias) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2]);
            using var xc = x.contiguous();
            var layout = Layout.Of(xc, weight);
            var output = empty([layout.Images, layout.Filters, layout.OutH, layout.OutW], ScalarType.Float32);
            bool backward = x.requires_grad || weight.requires_grad || bias.requires_grad;
            var positive = backward ? empty([layout.MaskBytes], ScalarType.Byte) : null;
            Forward(layout, xc, weight, bias, output, positive);
            if (positive is not null) ctx.save_for_backward([x, weight, positive]);
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            using var x = saved[0];
            using var weight = saved[1];
            using var positive = saved[2];
            using var xc = x.contiguous();
            using var g = gradOutput.contiguous();
            var layout = Layout.Of(xc, weight);
            var (gradWeight, gradBias) = WeightGradients(layout, xc, g, positive);
            Tensor? gradInput = null;
            if (x.requires_grad)
            {
                using var masked = Masked(layout, g, positive);
                gradInput = nn.functional.conv_transpose2d(masked, weight);
            }
            return [gradInput!, gradWeight, gradBias];
        }
    }

    /// <summary>The sizes of one call, and where each output row's vectors start: every full vector, then one ending
    /// at the row's end, overlapping the one before (its positive bits keep only the lanes not covered already).</summary>
    sealed record Layout(int Images, int Channels, int Height, int Width, int Filters, int[] Starts, byte TailBits)
    {
        public int OutH => Height - K + 1;
        public int OutW => Width - K + 1;
        public int Taps => Channels * K * K;
        public long MaskBytes => (long)Images * Filters * OutH * Starts.Length;

        public static Layout Of(Tensor x, Tensor weight)
        {
            int outW = (int)x.shape[3] - K + 1;
            var starts = new List<int>();
            for (int j = 0; j + Lanes <= outW; j += Lanes) starts.Add(j);
            int overlap = 0;
            if (outW % Lanes != 0)
            {
                overlap = starts[^1] + Lanes - (outW - Lanes);
                starts.Add(outW - Lanes);
            }
            return new Layout((int)x.shape[0], (int)x.shape[1], (int)x.shape[2], (int)x.shape[3], (int)weight.shape[0], [.. starts],
                (byte)(0xFF << overlap));
        }

        public byte Bits(int start) => start == Starts.Length - 1 ? TailBits : (byte)0xFF;
    }

    /// <summary>Where a contiguous CPU tensor's values start (libtorch's memory: it does not move).</summary>
    static unsafe nint Address(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    static float[] Values(Tensor t)
    {
        using var c = t.contiguous();
        return c.data<float>().ToArray();
    }

    static ParallelOptions Threads => new() { MaxDegreeOfParallelism = get_num_threads() };

    // The per-image bodies below are [AggressiveOptimization]: compiled fully at their first call. Left to the JIT's
    // first tier they ran about four times slower until promoted, which a short run never reached.

    static void Forward(Layout l, Tensor x, Tensor weight, Tensor bias, Tensor output, Tensor? positive)
    {
        float[] weights = Values(weight), biases = Values(bias);
        nint xPtr = Address(x), outPtr = Address(output), maskPtr = positive is null ? 0 : Address(positive);
        int outH = l.OutH, outW = l.OutW, taps = l.Taps, starts = l.Starts.Length;
        Parallel.For(0, l.Images, Threads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (image) =>
        {
            unsafe
            {
                float* xs = (float*)xPtr + (long)image * l.Channels * l.Height * l.Width;
                float* os = (float*)outPtr + (long)image * l.Filters * outH * outW;
                byte* ms = maskPtr == 0 ? null : (byte*)maskPtr + (long)image * l.Filters * outH * starts;
                long plane = (long)outH * outW, maskPlane = (long)outH * starts;
                // Pointers, not the arrays: no bounds check on the taps in the inner loop.
                fixed (float* w = weights, b = biases)
                {
                    if (l.Channels == 1)
                    {
                        // One channel (MNIST): filter by filter, its nine taps in registers, each output plane written in
                        // order (the same sums, in the same order, as the general path below).
                        for (int f = 0; f < l.Filters; f++)
                        {
                            float* wf = w + f * 9;
                            var w0 = Vector256.Create(wf[0]); var w1 = Vector256.Create(wf[1]); var w2 = Vector256.Create(wf[2]);
                            var w3 = Vector256.Create(wf[3]); var w4 = Vector256.Create(wf[4]); var w5 = Vector256.Create(wf[5]);
                            var w6 = Vector256.Create(wf[6]); var w7 = Vector256.Create(wf[7]); var w8 = Vector256.Create(wf[8]);
                            var bf = Vector256.Create(b[f]);
                            float* of = os + f * plane;
                            byte* mf = ms == null ? null : ms + f * maskPlane;
                            // Two rows at a time: two independent chains of nine FMAs for the core to overlap.
                            for (int i = 0; i < outH; i += 2)
                            {
                                int i2 = Math.Min(i + 1, outH - 1);
                                float* r0 = xs + (long)i * l.Width, r1 = r0 + l.Width, r2 = r1 + l.Width;
                                float* q0 = xs + (long)i2 * l.Width, q1 = q0 + l.Width, q2 = q1 + l.Width;
                                for (int s = 0; s < starts; s++)
                                {
                                    int j = l.Starts[s];
                                    var acc = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + j), w0, bf);
                                    var acd = Vector256.FusedMultiplyAdd(Vector256.Load(q0 + j), w0, bf);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + j + 1), w1, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q0 + j + 1), w1, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r0 + j + 2), w2, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q0 + j + 2), w2, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r1 + j), w3, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q1 + j), w3, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r1 + j + 1), w4, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q1 + j + 1), w4, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r1 + j + 2), w5, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q1 + j + 2), w5, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r2 + j), w6, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q2 + j), w6, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r2 + j + 1), w7, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q2 + j + 1), w7, acd);
                                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(r2 + j + 2), w8, acc);
                                    acd = Vector256.FusedMultiplyAdd(Vector256.Load(q2 + j + 2), w8, acd);
                                    byte bits = l.Bits(s);
                                    StoreRelu(acc, of + (long)i * outW + j, mf == null ? null : mf + (long)i * starts + s, bits);
                                    StoreRelu(acd, of + (long)i2 * outW + j, mf == null ? null : mf + (long)i2 * starts + s, bits);
                                }
                            }
                        }
                        return;
                    }
                    for (int i = 0; i < outH; i++)
                        for (int s = 0; s < starts; s++)
                        {
                            int j = l.Starts[s];
                            byte bits = l.Bits(s);
                            float* o = os + (long)i * outW + j;
                            byte* m = ms == null ? null : ms + (long)i * starts + s;
                            for (int f = 0; f < l.Filters; f++, o += plane)
                            {
                                var acc = Vector256.Create(b[f]);
                                for (int c = 0; c < l.Channels; c++)
                                    for (int ki = 0; ki < K; ki++)
                                    {
                                        float* r = xs + ((long)c * l.Height + i + ki) * l.Width + j;
                                        int t = f * taps + (c * K + ki) * K;
                                        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r), Vector256.Create(w[t]), acc);
                                        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 1), Vector256.Create(w[t + 1]), acc);
                                        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 2), Vector256.Create(w[t + 2]), acc);
                                    }
                                StoreRelu(acc, o, m == null ? null : m + f * maskPlane, bits);
                            }
                        }
                }
            }
        });
    }

    /// <summary>One vector of the output, ReLU applied, and its positive bits (lanes outside <paramref name="bits"/>
    /// left clear) when the backward needs them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void StoreRelu(Vector256<float> sum, float* output, byte* positive, byte bits)
    {
        Vector256.Max(sum, Vector256<float>.Zero).Store(output);
        if (positive != null) *positive = (byte)(Vector256.GreaterThan(sum, Vector256<float>.Zero).ExtractMostSignificantBits() & bits);
    }

    static (Tensor Weight, Tensor Bias) WeightGradients(Layout l, Tensor x, Tensor g, Tensor positive)
    {
        int outH = l.OutH, outW = l.OutW, taps = l.Taps, starts = l.Starts.Length;
        var partial = new float[(long)l.Images * l.Filters * (taps + 1)];
        nint xPtr = Address(x), gPtr = Address(g), maskPtr = Address(positive);
        Parallel.For(0, l.Images, Threads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (image) =>
        {
            unsafe
            {
                float* xs = (float*)xPtr + (long)image * l.Channels * l.Height * l.Width;
                float* gs = (float*)gPtr + (long)image * l.Filters * outH * outW;
                byte* ms = (byte*)maskPtr + (long)image * l.Filters * outH * starts;
                Span<Vector256<float>> acc = stackalloc Vector256<float>[taps + 1];
                for (int f = 0; f < l.Filters; f++)
                {
                    long at = ((long)image * l.Filters + f) * (taps + 1);
                    if (l.Channels == 1)
                    {
                        // One channel (MNIST): the ten sums in registers.
                        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default,
                            a5 = default, a6 = default, a7 = default, a8 = default, ab = default;
                        for (int i = 0; i < outH; i++)
                        {
                            float* r0 = xs + (long)i * l.Width, r1 = r0 + l.Width, r2 = r1 + l.Width;
                            float* gr = gs + ((long)f * outH + i) * outW;
                            byte* mr = ms + ((long)f * outH + i) * starts;
                            for (int s = 0; s < starts; s++)
                            {
                                int j = l.Starts[s];
                                var gm = Vector256.Load(gr + j) & ByteMasks[mr[s]];
                                ab += gm;
                                a0 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r0 + j), a0);
                                a1 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r0 + j + 1), a1);
                                a2 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r0 + j + 2), a2);
                                a3 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r1 + j), a3);
                                a4 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r1 + j + 1), a4);
                                a5 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r1 + j + 2), a5);
                                a6 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r2 + j), a6);
                                a7 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r2 + j + 1), a7);
                                a8 = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r2 + j + 2), a8);
                            }
                        }
                        partial[at] = Vector256.Sum(a0); partial[at + 1] = Vector256.Sum(a1); partial[at + 2] = Vector256.Sum(a2);
                        partial[at + 3] = Vector256.Sum(a3); partial[at + 4] = Vector256.Sum(a4); partial[at + 5] = Vector256.Sum(a5);
                        partial[at + 6] = Vector256.Sum(a6); partial[at + 7] = Vector256.Sum(a7); partial[at + 8] = Vector256.Sum(a8);
                        partial[at + 9] = Vector256.Sum(ab);
                        continue;
                    }
                    acc.Clear();
                    for (int i = 0; i < outH; i++)
                        for (int s = 0; s < starts; s++)
                        {
                            int j = l.Starts[s];
                            var gm = Vector256.Load(gs + ((long)f * outH + i) * outW + j) & ByteMasks[ms[((long)f * outH + i) * starts + s]];
                            acc[taps] += gm;
                            for (int c = 0; c < l.Channels; c++)
                                for (int ki = 0; ki < K; ki++)
                                {
                                    float* r = xs + ((long)c * l.Height + i + ki) * l.Width + j;
                                    int t = (c * K + ki) * K;
                                    acc[t] = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r), acc[t]);
                                    acc[t + 1] = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r + 1), acc[t + 1]);
                                    acc[t + 2] = Vector256.FusedMultiplyAdd(gm, Vector256.Load(r + 2), acc[t + 2]);
                                }
                        }
                    for (int t = 0; t <= taps; t++) partial[at + t] = Vector256.Sum(acc[t]);
                }
            }
        });
        // Over images in index order: the same sums whatever thread took which image.
        var gradWeight = new float[l.Filters * taps];
        var gradBias = new float[l.Filters];
        for (int image = 0; image < l.Images; image++)
            for (int f = 0; f < l.Filters; f++)
            {
                long at = ((long)image * l.Filters + f) * (taps + 1);
                for (int t = 0; t < taps; t++) gradWeight[f * taps + t] += partial[at + t];
                gradBias[f] += partial[at + taps];
            }
        return (tensor(gradWeight).reshape(l.Filters, l.Channels, K, K), tensor(gradBias));
    }

    /// <summary>The output's gradient where the output is positive, zero elsewhere: for the input's gradient.</summary>
    static Tensor Masked(Layout l, Tensor g, Tensor positive)
    {
        var masked = g.clone();
        int outH = l.OutH, outW = l.OutW, starts = l.Starts.Length;
        nint gPtr = Address(masked), maskPtr = Address(positive);
        Parallel.For(0, l.Images, Threads, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (image) =>
        {
            unsafe
            {
                for (long row = (long)image * l.Filters * outH; row < (long)(image + 1) * l.Filters * outH; row++)
                {
                    float* r = (float*)gPtr + row * outW;
                    // Each lane by the vector that owns it: the tail's first lanes belong to the vector before.
                    for (int s = 0; s < starts; s++)
                    {
                        byte bits = ((byte*)maskPtr)[row * starts + s];
                        var keep = ByteMasks[bits] | ~ByteMasks[l.Bits(s)];
                        (Vector256.Load(r + l.Starts[s]) & keep).Store(r + l.Starts[s]);
                    }
                }
            }
        });
        return masked;
    }
}

/// <summary>
/// Conv2d(in, out, 3×3) followed by ReLU, as one layer (Keras's <c>Conv2D(…, activation='relu')</c>) computed by
/// <see cref="ConvRelu"/>. Its parameters are named and initialised as <c>Conv2d</c>'s (weight, bias), so its state
/// and its ONNX export (Conv, then Relu) are those of the two layers it replaces.
/// </summary>
public sealed class Conv2dRelu : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // torch's parameter names: they are the state dictionary's keys
    public readonly TorchSharp.Modules.Parameter weight;
    public readonly TorchSharp.Modules.Parameter bias;
#pragma warning restore IDE1006

    public Conv2dRelu(long inChannels, long outChannels) : base(nameof(Conv2dRelu))
    {
        // Drawn by Conv2d itself: the same initial weights, from the same random stream, as the layer it replaces.
        using var conv = nn.Conv2d(inChannels, outChannels, 3);
        weight = new TorchSharp.Modules.Parameter(conv.weight!.detach().clone());
        bias = new TorchSharp.Modules.Parameter(conv.bias!.detach().clone());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        ConvRelu.Handles(x, weight) ? ConvRelu.Apply(x, weight, bias) : nn.functional.relu(nn.functional.conv2d(x, weight, bias));
}
