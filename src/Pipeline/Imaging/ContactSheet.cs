using Pipeline.Acquisition;
using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>
/// One tile of a contact sheet: an image (<see cref="Channels"/> 1 = gray, 3 = RGB, channel-planar C×H×W as the
/// pipeline's arrays hold it) and the text under it.
/// </summary>
public sealed record Tile(byte[] Pixels, int Width, int Height, string Caption, int Channels = 1)
{
    /// <summary>Image <paramref name="index"/> of a split, in its channels.</summary>
    public static Tile Of(ImageSplit split, long index, string caption) =>
        new(split.Image(index).ToArray(), split.Columns, split.Rows, caption, split.Channels);

    /// <summary>The tile as a Skia image: gray as it is, colour interleaved into RGBA.</summary>
    public SKImage ToImage()
    {
        if (Channels == 1)
            return SKImage.FromPixelCopy(new SKImageInfo(Width, Height, SKColorType.Gray8, SKAlphaType.Opaque), Pixels);
        if (Channels != 3)
            throw new ArgumentException($"a tile has 1 or 3 channels, not {Channels}");
        int plane = Width * Height;
        var rgba = new byte[plane * 4];
        for (int i = 0; i < plane; i++)
        {
            rgba[4 * i] = Pixels[i];
            rgba[4 * i + 1] = Pixels[plane + i];
            rgba[4 * i + 2] = Pixels[2 * plane + i];
            rgba[4 * i + 3] = 255;
        }
        return SKImage.FromPixelCopy(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque), rgba);
    }
}

/// <summary>
/// A grid of images scaled up with nearest-neighbour (pixels stay crisp), each with its caption underneath, as PNG.
/// A tile is drawn at most <see cref="MaxTileSide"/> pixels on its longer side: larger images are scaled down (a sheet
/// of 580×580 photos at 3× would be 120 megapixels, half a gigabyte as RGBA).
/// </summary>
public static class ContactSheet
{
    public const int CaptionHeight = 18, Gap = 4, MaxTileSide = 160;

    /// <summary>The size a tile of <paramref name="width"/>×<paramref name="height"/> is drawn at with <paramref name="scale"/>.</summary>
    public static (int Width, int Height) TileSize(int width, int height, int scale)
    {
        int longer = Math.Max(width, height) * scale;
        if (longer <= MaxTileSide) return (width * scale, height * scale);
        double factor = (double)MaxTileSide / Math.Max(width, height);
        return (Math.Max(1, (int)Math.Round(width * factor)), Math.Max(1, (int)Math.Round(height * factor)));
    }

    public static (int Width, int Height) Size(int tiles, int columns, int tileWidth, int tileHeight, int scale)
    {
        var (w, h) = TileSize(tileWidth, tileHeight, scale);
        int rows = (tiles + columns - 1) / columns;
        return (Gap + columns * (w + Gap), Gap + rows * (h + CaptionHeight + Gap));
    }

    public static byte[] Render(IReadOnlyList<Tile> tiles, int columns, int scale)
    {
        if (tiles.Count == 0)
            throw new ArgumentException("a contact sheet needs at least one image", nameof(tiles));
        var (w, h) = TileSize(tiles[0].Width, tiles[0].Height, scale);
        var (width, height) = Size(tiles.Count, columns, tiles[0].Width, tiles[0].Height, scale);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(Fonts.Label, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        var sampling = w >= tiles[0].Width
            ? new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None)
            : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
        for (int i = 0; i < tiles.Count; i++)
        {
            var tile = tiles[i];
            int x = Gap + i % columns * (w + Gap), y = Gap + i / columns * (h + CaptionHeight + Gap);
            using var image = tile.ToImage();
            canvas.DrawImage(image, SKRect.Create(x, y, w, h), sampling);
            string caption = Fit(tile.Caption, font, w);
            float textWidth = font.MeasureText(caption);
            canvas.DrawText(caption, x + (w - textWidth) / 2, y + h + CaptionHeight - 5, SKTextAlign.Left, font, ink);
        }
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    static string Fit(string text, SKFont font, float width)
    {
        while (text.Length > 1 && font.MeasureText(text) > width)
            text = text[..^1];
        return text;
    }
}
