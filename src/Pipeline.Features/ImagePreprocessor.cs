using System.Numerics.Tensors;

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

    readonly int rows, columns, channels;
    readonly Tap[] xTaps, yTaps;
    readonly float[] across; // each source row, already resized horizontally

    /// <summary>Output pixel i reads source pixels Low and High, with weight Frac on High.</summary>
    internal readonly record struct Tap(int Low, int High, float Frac);

    public ImagePreprocessor(int rows, int columns, int size, int channels = 1)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"images have 1 (gray) or 3 (RGB) channels, not {channels}", nameof(channels));
        (this.rows, this.columns, this.channels, Size) = (rows, columns, channels, size);
        xTaps = Taps(columns, size);
        yTaps = Taps(rows, size);
        across = new float[rows * size];
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
        // A gray plane is resized into the blue channel's place first; each output channel is then one vectorised
        // affine map of its resized plane (for gray, the same plane three times).
        int ResizedAt(int channel) => channels == 1 ? 2 : channel;
        for (int c = 0; c < channels; c++)
            Resize(image.Slice(c * source, source), tensor.Slice(ResizedAt(c) * plane, plane));
        for (int c = 0; c < 3; c++)
        {
            var channel = tensor.Slice(c * plane, plane);
            TensorPrimitives.Multiply(tensor.Slice(ResizedAt(c) * plane, plane), 1 / Std[c], channel);
            TensorPrimitives.Add(channel, -Mean[c] / Std[c], channel);
        }
    }

    /// <summary>One plane of bytes to Size × Size values in 0..1: across each row, then down each column.</summary>
    void Resize(ReadOnlySpan<byte> plane, Span<float> resized)
    {
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < Size; x++)
            {
                var t = xTaps[x];
                float low = plane[r * columns + t.Low] / 255f, high = plane[r * columns + t.High] / 255f;
                across[r * Size + x] = low + (high - low) * t.Frac;
            }
        for (int y = 0; y < Size; y++)
        {
            var t = yTaps[y];
            TensorPrimitives.Lerp(across.AsSpan(t.Low * Size, Size), across.AsSpan(t.High * Size, Size), t.Frac, resized.Slice(y * Size, Size));
        }
    }
}
