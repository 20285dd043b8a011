using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Imaging;
using Pipeline.Onnx;
using Xunit.Abstractions;

namespace Pipeline.Tests;

/// <summary>MNIST's training images as Verify learns their framing, read once.</summary>
static class MnistFraming
{
    static readonly Lazy<FramingStatistics> statistics = new(() =>
    {
        var images = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "train-images-idx3-ubyte.gz")), 3);
        var labels = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "train-labels-idx1-ubyte.gz")), 1);
        return FramingStatistics.Learn(new ImageSplit("train", images.Data, labels.Data, 28, 28));
    });

    public static FramingStatistics Statistics => statistics.Value;
}

/// <summary>Framing: learned from the training split, a fixed point on training-like images, and what it makes of others.</summary>
[Trait("Category", "Unit")]
public class FramingTests(ITestOutputHelper output)
{
    static FramingStatistics Stats => MnistFraming.Statistics;

    const double Threshold = 3; // params.json's predict.unlike_threshold

    [Fact]
    public void MNIST_is_learned_as_light_on_dark_a_box_of_about_20_pixels_centred_by_mass()
    {
        output.WriteLine(Stats.ToJson());
        Assert.Equal(FramingStatistics.LightOnDark, Stats.Polarity);
        Assert.Equal(0, Stats.Background.Median);
        Assert.InRange(Stats.LongSide.Median, 18, 20);
        Assert.InRange(Stats.CentreRow.Median, 14, 15); // pixel centres: the 28×28 frame's middle is 14
        Assert.InRange(Stats.CentreColumn.Median, 14, 15);
        Assert.Equal(Stats, FramingStatistics.FromJson(Stats.ToJson(), "test"));
    }

    [Fact]
    public void MNIST_test_digits_reach_the_model_as_their_bytes_and_are_not_marked()
    {
        var test = MnistTest.Split;
        int unchanged = 0, unlike = 0;
        for (int i = 0; i < test.Count; i++)
        {
            var image = test.Image(i).ToArray();
            var framed = Framing.Frame(image, 1, 28, 28, Stats);
            if (framed.Pixels.AsSpan().SequenceEqual(image)) unchanged++;
            if (framed.Unlikeness > Threshold) unlike++;
        }
        output.WriteLine($"{unchanged} of {test.Count} unchanged, {unlike} marked unlike the training images");
        Assert.True(unchanged >= 0.999 * test.Count, $"{unchanged} unchanged");
        Assert.True(unlike <= 0.01 * test.Count, $"{unlike} marked");
    }

    /// <summary>An MNIST digit as a person would draw it: dark on a light page of <paramref name="size"/>, scaled up, placed at (x, y).</summary>
    static byte[] OnPage(ReadOnlySpan<byte> digit, int size, int scale, int x, int y, byte paper = 245)
    {
        var page = new byte[size * size];
        page.AsSpan().Fill(paper);
        var large = ImageLoader.Resize(digit.ToArray(), 1, 28, 28, 28 * scale, 28 * scale);
        for (int r = 0; r < 28 * scale; r++)
            for (int c = 0; c < 28 * scale; c++)
                page[(y + r) * size + x + c] = (byte)(paper - large[r * 28 * scale + c] * paper / 255);
        return page;
    }

    [Fact]
    public void A_dark_seven_in_the_corner_of_a_200_pixel_page_is_framed_as_MNIST_framed_it()
    {
        var seven = MnistTest.Split.Image(0).ToArray(); // a 7
        var page = OnPage(seven, 200, 3, 110, 112);
        var framed = Framing.Frame(page, 1, 200, 200, Stats);
        var plain = Framing.Unframed(page, 1, 200, 200, 28, 28, Stats);
        double Difference(byte[] pixels) => pixels.Zip(seven).Average(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"mean |Δ| to the MNIST digit: framed {Difference(framed.Pixels):0.0}, resized whole {Difference(plain.Pixels):0.0}; "
            + $"unlikeness framed {framed.Unlikeness:0.00}, resized whole {plain.Unlikeness} ({plain.Reason})");
        Assert.True(Difference(framed.Pixels) < 20, $"{Difference(framed.Pixels)}");
        Assert.True(Difference(plain.Pixels) > 100, $"{Difference(plain.Pixels)}");
        Assert.True(framed.Unlikeness <= Threshold, framed.Reason);
        Assert.True(plain.Unlikeness > Threshold, "a dark-on-light image resized whole is unlike MNIST");
    }

    [Fact]
    public void A_blank_page_and_a_photo_are_marked_unlike_the_training_images()
    {
        var blank = new byte[3 * 120 * 90];
        var rng = new Random(5);
        for (int i = 0; i < blank.Length; i++) blank[i] = (byte)(230 + rng.Next(-6, 7)); // paper with sensor noise
        var page = Framing.Frame(blank, 3, 120, 90, Stats);
        output.WriteLine($"blank page: {page.Unlikeness} ({page.Reason})");
        Assert.True(page.Unlikeness > Threshold);
        Assert.StartsWith("no object", page.Reason);

        // A photo-like scene: a sky gradient, a ground of texture and a few discs, in colour.
        int w = 160, h = 120;
        var photo = new byte[3 * w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                bool ground = y > h * 0.6 + 8 * Math.Sin(x / 15.0);
                bool disc = Math.Pow(x - 40, 2) + Math.Pow(y - 30, 2) < 300 || Math.Pow(x - 120, 2) + Math.Pow(y - 80, 2) < 200;
                (int r, int g, int b) = disc ? (220, 60, 40) : ground ? (60 + rng.Next(60), 110 + rng.Next(60), 40) : (120 + y, 160 + y / 2, 250);
                photo[y * w + x] = (byte)Math.Min(255, r);
                photo[w * h + y * w + x] = (byte)Math.Min(255, g);
                photo[2 * w * h + y * w + x] = (byte)Math.Min(255, b);
            }
        var scene = Framing.Frame(photo, 3, w, h, Stats);
        output.WriteLine($"photo: {scene.Unlikeness:0.0} ({scene.Reason})");
        Assert.True(scene.Unlikeness > Threshold, scene.Reason);
    }

    [Fact]
    public void The_model_files_metadata_carries_the_framing()
    {
        var metadata = OnnxPreprocessing.Pixels(1, Stats).Metadata().ToDictionary();
        Assert.Equal(Stats, FramingStatistics.FromJson(metadata[FramingStatistics.MetadataKey], "metadata"));
        Assert.Contains("framed", metadata["preprocessing"]);
        Assert.DoesNotContain(FramingStatistics.MetadataKey, OnnxPreprocessing.Pixels(1).Metadata().ToDictionary().Keys);
        Assert.StartsWith("model.onnx: its framing statistics are not valid JSON",
            Assert.Throws<ImageException>(() => FramingStatistics.FromJson("{", "model.onnx")).Message);
        Assert.Equal("model.onnx: its framing statistics are incomplete",
            Assert.Throws<ImageException>(() => FramingStatistics.FromJson("""{"rows": 28, "columns": 28, "polarity": "sideways"}""", "model.onnx")).Message);
    }
}

/// <summary>Stroke width for robust training: the morphology operations on a known image.</summary>
[Trait("Category", "Unit")]
public class MorphologyTests
{
    static byte[] Apply(AugmentOperation operation, byte[] pixels, int size)
    {
        var canvas = new Canvas(size, size, 1, 0);
        pixels.CopyTo(canvas.Pixels, 0);
        var rng = new Rng(1, 0, 0);
        operation.Apply(canvas, ref rng, new Drawn());
        return canvas.Pixels.ToArray();
    }

    [Fact]
    public void Dilate_widens_a_light_stroke_by_a_pixel_each_side_and_erode_narrows_it()
    {
        // A vertical light stroke 3 pixels wide in a 9×9 dark image.
        var stroke = new byte[81];
        for (int y = 1; y < 8; y++) for (int x = 3; x < 6; x++) stroke[y * 9 + x] = 200;
        int Width(byte[] image) => Enumerable.Range(0, 9).Count(x => image[4 * 9 + x] == 200);
        Assert.Equal(5, Width(Apply(new RandomDilate { Probability = 1 }, stroke, 9)));
        Assert.Equal(1, Width(Apply(new RandomErode { Probability = 1 }, stroke, 9)));
        Assert.Contains(Width(Apply(new RandomDilate { Probability = 1, MaxSize = 2 }, stroke, 9)), new[] { 5, 7 }); // size 1 or 2
        Assert.Equal(["max_size must be between 1 and 3, got 4"], new RandomErode { Probability = 1, MaxSize = 4 }.Validate());
    }
}
