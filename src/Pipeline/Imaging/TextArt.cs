using System.Text;

namespace Pipeline.Imaging;

/// <summary>
/// An image as text, two characters a pixel so it keeps its shape in a terminal: gray as it is, colour (R, G, B planes)
/// by its luminance.
/// </summary>
public static class TextArt
{
    const string Ramp = " .:-=+*#%@";

    public static string Render(ReadOnlySpan<byte> pixels, int width, int height, int channels = 1)
    {
        int plane = width * height;
        var text = new StringBuilder();
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int i = y * width + x;
                byte value = channels == 1 ? pixels[i] : ImageLoader.Luminance(pixels[i], pixels[plane + i], pixels[2 * plane + i]);
                char c = Ramp[value * (Ramp.Length - 1) / 255];
                text.Append(c).Append(c);
            }
            text.AppendLine();
        }
        return text.ToString();
    }
}
