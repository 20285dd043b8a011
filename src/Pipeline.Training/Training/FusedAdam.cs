using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// Adam (the same update, state and checkpoint format as TorchSharp's) with each parameter's step done in one pass
/// over its memory. TorchSharp's step makes eight passes and two temporaries per parameter; for the reference
/// model's 2.8 M weights that was about a quarter of a training step. Every element is computed alone, with the
/// same operations in the vector body and the scalar tail (no fused multiply-add), so the result does not depend on
/// the thread count or the vector width.
/// </summary>
public sealed class FusedAdam(IEnumerable<Parameter> parameters, double lr) : Adam(parameters, lr)
{
    // Below this many elements a parameter is updated on the calling thread: splitting costs more than it saves.
    const int ChunkElements = 1 << 16;

    public override Tensor step(Func<Tensor>? closure = null)
    {
        foreach (var group in ParamGroups.Cast<ParamGroup>())
        {
            var options = (Options)group.Options;
            foreach (var parameter in group.Parameters)
            {
                using var grad = parameter.grad;
                if (grad is null) continue;
                if (parameter.dtype != ScalarType.Float32 || !parameter.is_contiguous() || !grad.is_contiguous() || parameter.device_type != TorchSharp.DeviceType.CPU)
                    throw new NotSupportedException($"the fused Adam step takes contiguous float32 CPU tensors, not {parameter.dtype} on {parameter.device_type}");
                var state = (State)_state[parameter.Handle];
                state.step += 1;
                Update(parameter, grad, state, options);
            }
        }
        return closure?.Invoke()!;
    }

    static void Update(Tensor parameter, Tensor grad, State state, Options options)
    {
        double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value;
        var step = new Step(
            Beta1: (float)beta1, OneMinusBeta1: (float)(1 - beta1), Beta2: (float)beta2, OneMinusBeta2: (float)(1 - beta2),
            InverseSqrtCorrection2: (float)(1 / Math.Sqrt(1 - Math.Pow(beta2, state.step))),
            Eps: (float)options.eps!.Value,
            StepSize: (float)(options.LearningRate!.Value / (1 - Math.Pow(beta1, state.step))));
        var memory = new Memory(THSTensor_data(parameter.Handle), THSTensor_data(grad.Handle),
            THSTensor_data(state.exp_avg.Handle), THSTensor_data(state.exp_avg_sq.Handle));
        long count = parameter.numel();
        if (count <= ChunkElements)
        {
            Run(memory, 0, (int)count, step);
            return;
        }
        int chunks = (int)((count + ChunkElements - 1) / ChunkElements);
        Parallel.For(0, chunks, chunk =>
        {
            long start = (long)chunk * ChunkElements;
            Run(memory, start, (int)Math.Min(ChunkElements, count - start), step);
        });
    }

    readonly record struct Step(float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2, float InverseSqrtCorrection2, float Eps, float StepSize);

    /// <summary>The addresses of one parameter's four float32 arrays.</summary>
    readonly record struct Memory(nint Parameter, nint Grad, nint Mean, nint Variance);

    static unsafe void Run(Memory memory, long start, int count, Step s)
    {
        var p = new Span<float>((float*)memory.Parameter + start, count);
        var g = new ReadOnlySpan<float>((float*)memory.Grad + start, count);
        var m = new Span<float>((float*)memory.Mean + start, count);
        var v = new Span<float>((float*)memory.Variance + start, count);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var b1 = new Vector<float>(s.Beta1); var c1 = new Vector<float>(s.OneMinusBeta1);
            var b2 = new Vector<float>(s.Beta2); var c2 = new Vector<float>(s.OneMinusBeta2);
            var k = new Vector<float>(s.InverseSqrtCorrection2); var eps = new Vector<float>(s.Eps); var size = new Vector<float>(s.StepSize);
            var pv = MemoryMarshal.Cast<float, Vector<float>>(p);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            for (int j = 0; j < pv.Length; j++)
            {
                var gj = gv[j];
                var mj = b1 * mv[j] + c1 * gj;
                var vj = b2 * vv[j] + c2 * gj * gj;
                mv[j] = mj;
                vv[j] = vj;
                pv[j] -= size * mj / (Vector.SquareRoot(vj) * k + eps);
            }
            i = pv.Length * Vector<float>.Count;
        }
        for (; i < count; i++)
        {
            float gi = g[i];
            float mi = s.Beta1 * m[i] + s.OneMinusBeta1 * gi;
            float vi = s.Beta2 * v[i] + s.OneMinusBeta2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] -= s.StepSize * mi / (MathF.Sqrt(vi) * s.InverseSqrtCorrection2 + s.Eps);
        }
    }

    // LibTorchSharp's own accessor for a tensor's storage (what TorchSharp's TensorAccessor uses).
    [DllImport("LibTorchSharp")]
    static extern nint THSTensor_data(nint handle);
}
