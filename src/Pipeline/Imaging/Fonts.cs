using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>
/// The font for labels. Skia draws nothing and raises nothing when a typeface is missing, so the font is loaded from
/// a file and checked for the glyphs the pictures need; without one, pictures are not made and the error says why.
/// </summary>
public static class Fonts
{
    public const string Variable = "PIPELINE_FONT";

    static readonly string[] Candidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/Library/Fonts/DejaVuSans.ttf",
        "C:/Windows/Fonts/DejaVuSans.ttf",
        "C:/Windows/Fonts/arial.ttf",
    ];

    static readonly Lazy<(SKTypeface Typeface, string File)> label = new(() => Find(Environment.GetEnvironmentVariable(Variable)));

    public static SKTypeface Label => label.Value.Typeface;

    /// <summary>The font file behind <see cref="Label"/>, for libraries that load fonts by file (the charts).</summary>
    public static string LabelFile => label.Value.File;

    public static SKTypeface Load(string? preferred) => Find(preferred).Typeface;

    static (SKTypeface Typeface, string File) Find(string? preferred)
    {
        var paths = (preferred is { Length: > 0 } ? new[] { preferred } : Candidates).ToList();
        foreach (var path in paths.Where(File.Exists))
        {
            var typeface = SKTypeface.FromFile(path);
            using var font = new SKFont(typeface);
            if (typeface is not null && font.ContainsGlyphs("0123456789 truepdiclasx:[],→"))
                return (typeface, path);
            typeface?.Dispose();
        }
        throw new FontException($"no usable font for labels (looked for {string.Join(", ", paths)}): " +
            $"install DejaVu (Debian: apt-get install fonts-dejavu-core) or set {Variable} to a .ttf file");
    }
}

public sealed class FontException(string message) : PipelineException(message);
