using SkiaSharp;

namespace Pipeline.Imaging;

/// <summary>
/// Image files as a model takes them, the one place that turns a file into a model's pixels: decoded with Skia (PNG,
/// JPEG, BMP, GIF's first frame, WebP), converted to the model's channels (gray by <see cref="Luminance"/>; alpha is
/// ignored, as PIL's <c>convert("L")</c> does) and fitted to its size (<see cref="Fit"/>). Pixels stay bytes, one plane
/// per channel, rows top to bottom; the caller scales them as training does (/ 255).
/// </summary>
public static class ImageLoader
{
    /// <summary>The file name endings a folder search takes as images.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    public static bool IsImageFile(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// The default of <c>verify.max_image_pixels</c>: Pillow's <c>Image.MAX_IMAGE_PIXELS</c>. An image whose header
    /// claims more pixels is refused before any pixel is decoded (a 400 KB PNG can claim 400 million).
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>The most pixels any limit may allow: a decoded image is one array of 4 bytes (RGBA) per pixel.</summary>
    public const long LargestMaxPixels = 536_870_000;

    /// <summary>
    /// Above this many pixels an image is decoded at the codec's largest reduction that still leaves both sides at least
    /// twice the target's (JPEG's 1/2–1/8 DCT scaling, WebP's any scale): a 6000×4000 photo need not be decoded whole
    /// to make a 224×224 input. Below it images decode whole, so the bytes stay those of PIL's full decode.
    /// </summary>
    public const long WholeDecodeLimit = 4096L * 4096;

    /// <summary>The file as <paramref name="channels"/> planes (1 gray, 3 RGB) of <paramref name="rows"/> × <paramref name="columns"/> bytes.</summary>
    public static byte[] Load(string path, int channels, int rows, int columns, long maxPixels = DefaultMaxPixels)
    {
        string name = ImageFiles.Named(path);
        return Load(Read(path, name), name, channels, rows, columns, maxPixels: maxPixels);
    }

    static byte[] Read(string path, string name)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageException($"{name}: cannot read it ({e.Message})"); }
    }

    /// <summary>
    /// The file as <paramref name="channels"/> planes at its decoded size (reduced only as <see cref="Decode"/> reduces
    /// for a model of <paramref name="rows"/> × <paramref name="columns"/>), for a caller that fits it itself (framing).
    /// </summary>
    public static (byte[] Planes, int Width, int Height) LoadPlanes(string path, int channels, int rows, int columns, long maxPixels = DefaultMaxPixels)
    {
        string name = ImageFiles.Named(path);
        try
        {
            var (rgba, width, height) = Decode(Read(path, name), name, maxPixels, rows, columns);
            return (Planes(rgba, channels, name), width, height);
        }
        catch (Exception e) when (e is OverflowException or OutOfMemoryException or ArgumentException or IndexOutOfRangeException)
        {
            throw new ImageException($"{name}: cannot be loaded ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>
    /// A file's bytes as <paramref name="channels"/> planes of <paramref name="rows"/> × <paramref name="columns"/>:
    /// fitted by <see cref="Fit"/> (crop) or <see cref="Pad"/> (pad with <paramref name="background"/>). Every failure,
    /// including an arithmetic or allocation one, is an <see cref="ImageException"/> that names the file.
    /// </summary>
    public static byte[] Load(byte[] file, string name, int channels, int rows, int columns, bool pad = false, byte background = 0,
        long maxPixels = DefaultMaxPixels)
    {
        try
        {
            var (rgba, width, height) = Decode(file, name, maxPixels, rows, columns);
            var planes = Planes(rgba, channels, name);
            return pad ? Pad(planes, channels, width, height, rows, columns, background) : Fit(planes, channels, width, height, rows, columns);
        }
        catch (Exception e) when (e is OverflowException or OutOfMemoryException or ArgumentException or IndexOutOfRangeException)
        {
            throw new ImageException($"{name}: cannot be loaded ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>
    /// RGBA bytes, unpremultiplied, as stored: no colour management (PIL does none either). The header's dimensions are
    /// checked against <paramref name="maxPixels"/> before anything is decoded; an image over <see cref="WholeDecodeLimit"/>
    /// is decoded reduced where the codec can, but never below twice <paramref name="rows"/> × <paramref name="columns"/>.
    /// </summary>
    public static (byte[] Rgba, int Width, int Height) Decode(byte[] file, string name, long maxPixels = DefaultMaxPixels, int rows = 0, int columns = 0)
    {
        using var data = SKData.CreateCopy(file);
        using var codec = SKCodec.Create(data)
            ?? throw new ImageException($"{name}: not an image that can be decoded (PNG, JPEG, BMP, GIF or WebP)");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        long pixels = (long)width * height;
        if (width <= 0 || height <= 0)
            throw new ImageException($"{name}: its header claims {width} × {height} pixels");
        if (pixels > maxPixels)
            throw new ImageException($"{name}: {width:N0} × {height:N0} = {pixels:N0} pixels, over the limit of {maxPixels:N0} "
                + "(verify.max_image_pixels; a decompression bomb, or raise the limit)");
        var size = pixels > WholeDecodeLimit && rows > 0 && columns > 0 ? Reduced(codec, 2 * rows, 2 * columns) : new SKSizeI(width, height);
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize64];
        unsafe
        {
            fixed (byte* target = rgba)
            {
                // A truncated file decodes partly (IncompleteInput): that is a broken file too.
                var result = codec.GetPixels(info, (nint)target);
                if (result != SKCodecResult.Success)
                    throw new ImageException($"{name}: cannot decode it ({result})");
            }
        }
        return (rgba, info.Width, info.Height);
    }

    /// <summary>The smallest size the codec decodes to directly whose sides are at least <paramref name="rows"/> and <paramref name="columns"/>.</summary>
    static SKSizeI Reduced(SKCodec codec, int rows, int columns)
    {
        var best = new SKSizeI(codec.Info.Width, codec.Info.Height);
        for (int eighths = 1; eighths < 8; eighths++)
        {
            var size = codec.GetScaledDimensions(eighths / 8f);
            if (size.Width >= columns && size.Height >= rows && (long)size.Width * size.Height < (long)best.Width * best.Height)
                best = size;
        }
        return best;
    }

    /// <summary>
    /// Gray from RGB: ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B) in PIL's fixed point, so an image converted here
    /// and with PIL's <c>convert("L")</c> gives the same bytes; gray stays exactly gray.
    /// </summary>
    public static byte Luminance(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    static byte[] Planes(byte[] rgba, int channels, string name)
    {
        if (channels is not (1 or 3))
            throw new ImageException($"{name}: a model with {channels} input channels is not supported (1 gray, 3 RGB)");
        int count = rgba.Length / 4;
        var planes = new byte[checked(channels * count)];
        for (int i = 0; i < count; i++)
        {
            byte r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
            if (channels == 1)
                planes[i] = Luminance(r, g, b);
            else
                (planes[i], planes[count + i], planes[2 * count + i]) = (r, g, b);
        }
        return planes;
    }

    /// <summary>
    /// Fits planes of <paramref name="width"/> × <paramref name="height"/> to <paramref name="rows"/> × <paramref name="columns"/>
    /// as torchvision's <c>Resize(n)</c> + <c>CenterCrop(n)</c> do on a PIL image: scaled with the aspect ratio kept so
    /// that the shorter side (relative to the target) fits exactly and the other is truncated, then the centre kept
    /// (the offset rounded half to even, as Python rounds). Scaling is PIL's bilinear resampling bit for bit: a
    /// triangle widened by the reduction factor, so a large photo is averaged, not sampled; weights in PIL's 22-bit
    /// fixed point, rows first, bytes between the passes. An image already at the target size is returned as it is:
    /// MNIST-sized gray images reach the model as their bytes.
    /// </summary>
    public static byte[] Fit(byte[] planes, int channels, int width, int height, int rows, int columns)
    {
        if (width == columns && height == rows) return planes;
        bool widthFits = (long)columns * height >= (long)rows * width;
        int scaledWidth = widthFits ? columns : Math.Max(columns, (int)((double)rows * width / height));
        int scaledHeight = widthFits ? Math.Max(rows, (int)((double)columns * height / width)) : rows;
        var fitted = new byte[channels * rows * columns];
        Resample(planes, channels, width, height, Taps(width, scaledWidth, (int)Math.Round((scaledWidth - columns) / 2.0), columns),
            Taps(height, scaledHeight, (int)Math.Round((scaledHeight - rows) / 2.0), rows), fitted, rows, columns, 0, 0);
        return fitted;
    }

    /// <summary>
    /// Fits planes to <paramref name="rows"/> × <paramref name="columns"/> as PIL's <c>ImageOps.pad(image, size,
    /// method=Image.BILINEAR, color=background)</c> does: scaled with the aspect ratio kept so that the whole image fits
    /// (the longer side, relative to the target, fits exactly; the other is rounded half to even), the same bilinear
    /// resampling as <see cref="Fit"/>, and placed in the middle (offset rounded half to even) of a canvas of
    /// <paramref name="background"/>. Nothing of the image is lost; an image already at the target size is returned as it is.
    /// </summary>
    public static byte[] Pad(byte[] planes, int channels, int width, int height, int rows, int columns, byte background)
    {
        if (width == columns && height == rows) return planes;
        int scaledWidth = columns, scaledHeight = rows;
        double ratio = (double)width / height, target = (double)columns / rows;
        if (ratio > target) scaledHeight = Math.Max(1, (int)Math.Round((double)height / width * columns, MidpointRounding.ToEven));
        else if (ratio < target) scaledWidth = Math.Max(1, (int)Math.Round((double)width / height * rows, MidpointRounding.ToEven));
        var padded = new byte[channels * rows * columns];
        padded.AsSpan().Fill(background);
        Resample(planes, channels, width, height, Taps(width, scaledWidth, 0, scaledWidth), Taps(height, scaledHeight, 0, scaledHeight),
            padded, rows, columns, (int)Math.Round((rows - scaledHeight) / 2.0), (int)Math.Round((columns - scaledWidth) / 2.0));
        return padded;
    }

    /// <summary>Planes scaled to exactly <paramref name="newWidth"/> × <paramref name="newHeight"/> by the same bilinear resampling as <see cref="Fit"/> (PIL's <c>resize</c>).</summary>
    public static byte[] Resize(byte[] planes, int channels, int width, int height, int newWidth, int newHeight)
    {
        if (width == newWidth && height == newHeight) return planes;
        var resized = new byte[channels * newWidth * newHeight];
        Resample(planes, channels, width, height, Taps(width, newWidth, 0, newWidth), Taps(height, newHeight, 0, newHeight), resized, newHeight, newWidth, 0, 0);
        return resized;
    }

    /// <summary>
    /// PIL's two passes (across, then down, bytes between them) through <paramref name="xTaps"/> and <paramref name="yTaps"/>,
    /// written into <paramref name="output"/> (planes of <paramref name="rows"/> × <paramref name="columns"/>) at the offset.
    /// </summary>
    static void Resample(byte[] planes, int channels, int width, int height, (int First, int[] Weights)[] xTaps, (int First, int[] Weights)[] yTaps,
        byte[] output, int rows, int columns, int top, int left)
    {
        int outWidth = xTaps.Length, outHeight = yTaps.Length;
        var across = new byte[height * outWidth]; // each source row, already scaled (and cropped) horizontally
        for (int c = 0; c < channels; c++)
        {
            var plane = planes.AsSpan(c * width * height, width * height);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < outWidth; x++)
                {
                    var (first, weights) = xTaps[x];
                    int sum = Half;
                    for (int k = 0; k < weights.Length; k++) sum += plane[y * width + first + k] * weights[k];
                    across[y * outWidth + x] = Clip(sum);
                }
            for (int y = 0; y < outHeight; y++)
            {
                var (first, weights) = yTaps[y];
                for (int x = 0; x < outWidth; x++)
                {
                    int sum = Half;
                    for (int k = 0; k < weights.Length; k++) sum += across[(first + k) * outWidth + x] * weights[k];
                    output[(c * rows + top + y) * columns + left + x] = Clip(sum);
                }
            }
        }
    }

    // PIL's fixed point for 8-bit images: weights × 2²², sums started at one half.
    const int PrecisionBits = 22, Half = 1 << (PrecisionBits - 1);

    static byte Clip(int sum) => sum <= 0 ? (byte)0 : sum >= 255 << PrecisionBits ? (byte)255 : (byte)(sum >> PrecisionBits);

    /// <summary>
    /// For outputs <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 of a
    /// <paramref name="source"/> → <paramref name="scaled"/> resize: the first source pixel each reads and the weights
    /// (PIL's precompute_coeffs: pixel centres aligned, triangle of radius max(1, source / scaled), weights summing to 1).
    /// </summary>
    static (int First, int[] Weights)[] Taps(int source, int scaled, int start, int count)
    {
        double ratio = (double)source / scaled, support = Math.Max(ratio, 1);
        var taps = new (int, int[])[count];
        for (int i = 0; i < count; i++)
        {
            double centre = (start + i + 0.5) * ratio;
            int first = Math.Max(0, (int)(centre - support + 0.5)), end = Math.Min(source, (int)(centre + support + 0.5));
            var weights = new double[end - first];
            for (int j = first; j < end; j++)
                weights[j - first] = Math.Max(0, 1 - Math.Abs((j + 0.5 - centre) / support));
            double total = weights.Sum();
            taps[i] = (first, [.. weights.Select(w => (int)(w / total * (1 << PrecisionBits) + 0.5))]);
        }
        return taps;
    }
}

/// <summary>An image file that cannot be used; the message names it.</summary>
public sealed class ImageException(string message) : PipelineException(message);
