using System.Runtime.InteropServices;
using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>8-bit grayscale PNG, lossless both ways: decoding an encoded image gives back exactly its bytes.</summary>
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

    public static (byte[] Pixels, int Width, int Height) Decode(byte[] png, string name)
    {
        using var data = SKData.CreateCopy(png);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException($"{name}: not a readable image");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Gray8, SKAlphaType.Opaque);
        var pixels = new byte[info.Width * info.Height];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        try
        {
            var result = codec.GetPixels(info, handle.AddrOfPinnedObject());
            if (result != SKCodecResult.Success)
                throw new InvalidDataException($"{name}: cannot decode ({result})");
        }
        finally
        {
            handle.Free();
        }
        return (pixels, info.Width, info.Height);
    }
}
