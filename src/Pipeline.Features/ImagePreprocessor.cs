using System.Numerics.Tensors;

namespace Pipeline.Features;

/// <summary>
/// Gray digits to the backbone's input: bytes / 255, bilinear resize to <see cref="Size"/>×<see cref="Size"/> with
/// pixel centres aligned (align_corners=false, as torchvision and PIL resize), the gray value in all three RGB channels,
/// then ImageNet's per-channel (x − mean) / std. Output layout CHW, float32.
/// </summary>
public sealed class ImagePreprocessor
{
    public static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    readonly int rows, columns;
    readonly Tap[] xTaps, yTaps;

    /// <summary>Output pixel i reads source pixels Low and High, with weight Frac on High.</summary>
    internal readonly record struct Tap(int Low, int High, float Frac);

    public ImagePreprocessor(int rows, int columns, int size)
    {
        (this.rows, this.columns, Size) = (rows, columns, size);
        xTaps = Taps(columns, size);
        yTaps = Taps(rows, size);
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

    /// <summary>Writes one image (<c>rows × columns</c> bytes) as a CHW tensor into <paramref name="tensor"/>.</summary>
    /// <remarks><see cref="TransferGraph"/> repeats this arithmetic operation for operation in ONNX: change both.</remarks>
    public void Write(ReadOnlySpan<byte> image, Span<float> tensor)
    {
        if (image.Length != rows * columns) throw new ArgumentException($"expected {rows}×{columns} bytes, got {image.Length}", nameof(image));
        if (tensor.Length < TensorLength) throw new ArgumentException($"needs {TensorLength} floats, got {tensor.Length}", nameof(tensor));
        int plane = Size * Size;
        Span<float> across = stackalloc float[rows * Size]; // each source row, already resized horizontally
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < Size; x++)
            {
                var t = xTaps[x];
                float low = image[r * columns + t.Low] / 255f, high = image[r * columns + t.High] / 255f;
                across[r * Size + x] = low + (high - low) * t.Frac;
            }
        // The gray plane goes into the blue channel's place first; each channel is then one vectorised affine map of it.
        var gray = tensor.Slice(2 * plane, plane);
        for (int y = 0; y < Size; y++)
        {
            var t = yTaps[y];
            TensorPrimitives.Lerp(across.Slice(t.Low * Size, Size), across.Slice(t.High * Size, Size), t.Frac, gray.Slice(y * Size, Size));
        }
        for (int c = 0; c < 3; c++)
        {
            var channel = tensor.Slice(c * plane, plane);
            TensorPrimitives.Multiply(gray, 1 / Std[c], channel);
            TensorPrimitives.Add(channel, -Mean[c] / Std[c], channel);
        }
    }
}
