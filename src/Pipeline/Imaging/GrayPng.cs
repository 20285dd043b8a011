using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>8-bit grayscale PNG, lossless: <see cref="ImageLoader"/> reads an encoded image back as exactly its bytes.</summary>
public static class GrayPng
{
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height)
    {
        if (pixels.Length != width * height)
            throw new ArgumentException($"{pixels.Length} pixels do not make a {width}×{height} image", nameof(pixels));
        var info = new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        unsafe
        {
            fixed (byte* data = pixels)
            {
                using var pixmap = new SKPixmap(info, (nint)data, width);
                using var encoded = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, zLibLevel: 6))
                    ?? throw new InvalidOperationException("Skia could not encode a grayscale PNG");
                return encoded.ToArray();
            }
        }
    }
}
