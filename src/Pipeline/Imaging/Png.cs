using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>
/// 8-bit PNG, lossless, from the pipeline's channel-planar pixels: one channel as grayscale, three as RGB (no alpha,
/// no colormap). <see cref="ImageLoader"/>, and PIL, read an encoded image back as exactly its bytes.
/// </summary>
public static class Png
{
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, int channels = 1)
    {
        if (channels is not (1 or 3))
            throw new ArgumentException($"a PNG here has 1 (gray) or 3 (RGB) channels, not {channels}", nameof(channels));
        int plane = width * height;
        if (pixels.Length != channels * plane)
            throw new ArgumentException($"{pixels.Length} bytes do not make a {channels}×{height}×{width} image", nameof(pixels));
        if (channels == 1)
            return Encode(pixels, new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), width);
        // Skia takes colour interleaved, four bytes a pixel; RGB888x's fourth is ignored and the file is RGB.
        var rgbx = new byte[4 * plane];
        for (int i = 0; i < plane; i++)
        {
            rgbx[4 * i] = pixels[i];
            rgbx[4 * i + 1] = pixels[plane + i];
            rgbx[4 * i + 2] = pixels[2 * plane + i];
            rgbx[4 * i + 3] = 255;
        }
        return Encode(rgbx, new SKImageInfo(width, height, SKColorType.Rgb888x, SKAlphaType.Opaque), 4 * width);
    }

    static byte[] Encode(ReadOnlySpan<byte> data, SKImageInfo info, int rowBytes)
    {
        unsafe
        {
            fixed (byte* bytes = data)
            {
                using var pixmap = new SKPixmap(info, (nint)bytes, rowBytes);
                using var encoded = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, zLibLevel: 6))
                    ?? throw new InvalidOperationException($"Skia could not encode a {info.ColorType} PNG");
                return encoded.ToArray();
            }
        }
    }
}
