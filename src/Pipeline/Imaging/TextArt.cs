using System.Text;

namespace Pipeline.Imaging;

/// <summary>A grayscale image as text, two characters a pixel so it keeps its shape in a terminal.</summary>
public static class TextArt
{
    const string Ramp = " .:-=+*#%@";

    public static string Render(ReadOnlySpan<byte> pixels, int width, int height)
    {
        var text = new StringBuilder();
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                char c = Ramp[pixels[y * width + x] * (Ramp.Length - 1) / 255];
                text.Append(c).Append(c);
            }
            text.AppendLine();
        }
        return text.ToString();
    }
}
