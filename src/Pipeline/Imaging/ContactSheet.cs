using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>One tile of a contact sheet: a grayscale image and the text under it.</summary>
public sealed record Tile(byte[] Pixels, int Width, int Height, string Caption);

/// <summary>
/// A grid of images scaled up with nearest-neighbour (pixels stay crisp), each with its caption underneath, as PNG.
/// </summary>
public static class ContactSheet
{
    public const int CaptionHeight = 18, Gap = 4;

    public static (int Width, int Height) Size(int tiles, int columns, int tileWidth, int tileHeight, int scale)
    {
        int rows = (tiles + columns - 1) / columns;
        return (Gap + columns * (tileWidth * scale + Gap), Gap + rows * (tileHeight * scale + CaptionHeight + Gap));
    }

    public static byte[] Render(IReadOnlyList<Tile> tiles, int columns, int scale)
    {
        if (tiles.Count == 0)
            throw new ArgumentException("a contact sheet needs at least one image", nameof(tiles));
        int w = tiles[0].Width, h = tiles[0].Height;
        var (width, height) = Size(tiles.Count, columns, w, h, scale);
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(Fonts.Label, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        var sampling = new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None);
        for (int i = 0; i < tiles.Count; i++)
        {
            var tile = tiles[i];
            int x = Gap + i % columns * (w * scale + Gap), y = Gap + i / columns * (h * scale + CaptionHeight + Gap);
            using var image = SKImage.FromPixelCopy(new SKImageInfo(tile.Width, tile.Height, SKColorType.Gray8, SKAlphaType.Opaque), tile.Pixels);
            canvas.DrawImage(image, SKRect.Create(x, y, w * scale, h * scale), sampling);
            string caption = Fit(tile.Caption, font, w * scale);
            float textWidth = font.MeasureText(caption);
            canvas.DrawText(caption, x + (w * scale - textWidth) / 2, y + h * scale + CaptionHeight - 5, SKTextAlign.Left, font, ink);
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
