using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Pipeline.Features;

/// <summary>
/// Images to the backbone's input: bytes / 255, bilinear resize of each channel to <see cref="Size"/>×<see cref="Size"/>
/// with pixel centres aligned (align_corners=false, as torchvision and PIL resize), a gray image's one channel into all
/// three RGB channels (RGB goes as it is), then ImageNet's per-channel (x − mean) / std. Input and output layout CHW,
/// output float32. One instance per thread: it keeps a scratch row buffer.
/// </summary>
public sealed class ImagePreprocessor
{
    public static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    /// <summary>The per-channel (x − mean) / std as x · Scale + Shift, the form both this class and TransferGraph compute.</summary>
    internal static readonly float[] Scale = [.. Std.Select(s => 1 / s)];
    internal static readonly float[] Shift = [.. Mean.Zip(Std, (m, s) => -m / s)];

    readonly int rows, columns, channels;
    readonly Tap[] xTaps, yTaps;
    readonly float[] across; // each source row, already resized horizontally
    readonly float[] row; // one output row, resized both ways

    /// <summary>Output pixel i reads source pixels Low and High, with weight Frac on High.</summary>
    internal readonly record struct Tap(int Low, int High, float Frac);

    public ImagePreprocessor(int rows, int columns, int size, int channels = 1)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"images have 1 (gray) or 3 (RGB) channels, not {channels}", nameof(channels));
        (this.rows, this.columns, this.channels, Size) = (rows, columns, channels, size);
        xTaps = Taps(columns, size);
        yTaps = Taps(rows, size);
        across = new float[rows * size];
        row = new float[size];
    }

    public int Size { get; }

    /// <summary>Floats per image: 3 × Size × Size.</summary>
    public int TensorLength => 3 * Size * Size;

    internal static Tap[] Taps(int source, int size)
    {
        var taps = new Tap[size];
        double scale = (double)source / size;
        for (int i = 0; i < size; i++)
        {
            // Pixel centres: output i sits at (i + 0.5) · scale − 0.5 in source coordinates, clamped at the edges.
            double at = Math.Clamp((i + 0.5) * scale - 0.5, 0, source - 1);
            int low = (int)Math.Floor(at);
            taps[i] = new Tap(low, Math.Min(low + 1, source - 1), (float)(at - low));
        }
        return taps;
    }

    /// <summary>Writes one image (<c>channels × rows × columns</c> bytes) as a CHW tensor into <paramref name="tensor"/>.</summary>
    /// <remarks><see cref="TransferGraph"/> repeats this arithmetic operation for operation in ONNX: change both.</remarks>
    public void Write(ReadOnlySpan<byte> image, Span<float> tensor)
    {
        int source = rows * columns, plane = Size * Size;
        if (image.Length != channels * source) throw new ArgumentException($"expected {channels}×{rows}×{columns} bytes, got {image.Length}", nameof(image));
        if (tensor.Length < TensorLength) throw new ArgumentException($"needs {TensorLength} floats, got {tensor.Length}", nameof(tensor));
        // Each output row is resized once into a scratch row and mapped straight into its channel's row (a gray row
        // into all three): the tensor is written once, never read back.
        for (int c = 0; c < channels; c++)
        {
            ResizeAcross(image.Slice(c * source, source));
            var (first, last) = channels == 1 ? (0, 2) : (c, c); // a gray row goes into all three channels
            for (int y = 0; y < Size; y++)
            {
                var t = yTaps[y];
                TensorPrimitives.Lerp(across.AsSpan(t.Low * Size, Size), across.AsSpan(t.High * Size, Size), t.Frac, row);
                for (int k = first; k <= last; k++)
                    ScaleShift(row, Scale[k], Shift[k], tensor.Slice(k * plane + y * Size, Size));
            }
        }
    }

    /// <summary>(x · scale) + shift, rounded after each operation as TransferGraph's Mul then Add
    /// (TensorPrimitives has no MultiplyAdd of two scalars).</summary>
    static void ScaleShift(ReadOnlySpan<float> x, float scale, float shift, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var (s, t) = (new Vector<float>(scale), new Vector<float>(shift));
            var from = MemoryMarshal.Cast<float, Vector<float>>(x);
            var to = MemoryMarshal.Cast<float, Vector<float>>(destination);
            for (int v = 0; v < from.Length; v++) to[v] = from[v] * s + t;
            i = from.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) destination[i] = x[i] * scale + shift;
    }

    /// <summary>Each source row of one plane of bytes to Size values in 0..1 (the horizontal half of the resize).</summary>
    void ResizeAcross(ReadOnlySpan<byte> plane)
    {
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < Size; x++)
            {
                var t = xTaps[x];
                float low = plane[r * columns + t.Low] / 255f, high = plane[r * columns + t.High] / 255f;
                across[r * Size + x] = low + (high - low) * t.Frac;
            }
    }
}
