using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Pipeline.Imaging;
using Pipeline.Stages;
using SkiaSharp;

namespace Pipeline.Tests;

/// <summary>
/// Images that lie about their size: decompression bombs (real PNG files that claim 400 million pixels in 390 KB,
/// tests/make_folder_dataset.py --bombs) are refused from their header, named with their dimensions, before a pixel is
/// decoded; large photos decode reduced; every failure names the file.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ImageGuardTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    async Task<StageContext> Verify(string definition, params string[] overrides)
    {
        var context = TestStages.Context(new ArtifactStore(temp["artifacts"]), TestStages.Parameters([$"download.dataset={definition}", .. overrides]));
        await TestStages.Run(DownloadStage.Instance, context);
        await TestStages.Run(VerifyStage.Instance, context);
        return context;
    }

    [Fact]
    public async Task Decompression_bombs_fail_Verify_naming_each_file_and_its_size_and_with_skip_unreadable_the_rest_goes_through()
    {
        FolderDatasetTests.Build(temp["clothes"], "--per-class", "4", "--bombs", "20000,20000,20000,20000,20000,20000,30000");
        var bombs = Directory.GetFiles(temp["clothes"], "bomb-*", SearchOption.AllDirectories);
        Assert.Equal(7, bombs.Length);
        Assert.All(bombs, b => Assert.True(new FileInfo(b).Length < 1_000_000, $"{b} is a small file"));
        File.WriteAllText(temp["clothes.json"], """{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");

        var error = await Assert.ThrowsAsync<DatasetException>(() => Verify(temp["clothes.json"]));
        Assert.StartsWith("7 files cannot be used", error.Message);
        foreach (var bomb in bombs)
        {
            string size = bomb.Contains("30000") ? "30,000 × 30,000 = 900,000,000" : "20,000 × 20,000 = 400,000,000";
            Assert.Contains($"{bomb}: {size} pixels, over the limit of 89,478,485 (verify.max_image_pixels", error.Message);
        }
        Assert.Null(new ArtifactStore(temp["artifacts"]).ReadRecord("verify"));

        var context = await Verify(temp["clothes.json"], "verify.skip_unreadable=true");
        var inventory = System.Text.Json.JsonSerializer.Deserialize<Inventory>(
            File.ReadAllText(Path.Combine(context.OutputOf(VerifyStage.Instance), Inventory.FileName)), CanonicalJson.Options)!;
        Assert.Equal(7, inventory.Skipped!.Count);
        Assert.All(inventory.Skipped, s => Assert.Contains("over the limit", s.Problem));
        Assert.Equal(40, inventory.Counts.Values.Sum());
    }

    [Fact]
    public async Task A_raised_limit_lets_a_large_image_through()
    {
        FolderDatasetTests.Build(temp["clothes"], "--per-class", "6", "--bombs", "12000");
        File.WriteAllText(temp["clothes.json"], """{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 1, "image_size": 8 }""");
        var limited = await Assert.ThrowsAsync<DatasetException>(() => Verify(temp["clothes.json"], "verify.max_image_pixels=1000000"));
        Assert.Contains("bomb-0-12000x12000.png: 12,000 × 12,000 = 144,000,000 pixels, over the limit of 1,000,000", limited.Message);
        var context = await Verify(temp["clothes.json"], "verify.max_image_pixels=150000000");
        Assert.Equal(61, VerifiedDataset.Load(context.OutputOf(VerifyStage.Instance)).Splits.Values.Sum());
    }

    [Fact]
    public void A_limit_out_of_range_is_a_parameter_error()
    {
        var error = Assert.ThrowsAny<Exception>(() => TestStages.Parameters("verify.max_image_pixels=0"));
        Assert.Contains("max_image_pixels must be between 1 and 536,870,000, got 0", error.Message);
    }
}

/// <summary>The loader's guard and reduced decoding on files made here (no Python needed).</summary>
[Trait("Category", "Unit")]
public sealed class ImageLoaderLimitTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static byte[] Jpeg(int width, int height)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            // Smooth gradients and a disc: a reduced decode and a whole one agree closely.
            using var paint = new SKPaint { Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height), [SKColors.Navy, SKColors.Orange], SKShaderTileMode.Clamp) };
            canvas.DrawRect(0, 0, width, height, paint);
            using var disc = new SKPaint { Color = SKColors.White, IsAntialias = true };
            canvas.DrawCircle(width / 2f, height / 2f, height / 3f, disc);
        }
        using var data = bitmap.PeekPixels().Encode(new SKJpegEncoderOptions(90, SKJpegEncoderDownsample.Downsample444, SKJpegEncoderAlphaOption.Ignore))!;
        return data.ToArray();
    }

    [Fact]
    public void An_image_over_the_limit_is_refused_naming_the_file_and_its_size()
    {
        File.WriteAllBytes(temp["photo.jpg"], Jpeg(120, 80));
        var error = Assert.Throws<ImageException>(() => ImageLoader.Load(temp["photo.jpg"], 3, 28, 28, maxPixels: 9_000));
        Assert.Equal($"{temp["photo.jpg"]}: 120 × 80 = 9,600 pixels, over the limit of 9,000 (verify.max_image_pixels; a decompression bomb, or raise the limit)",
            error.Message);
        Assert.Equal(3 * 28 * 28, ImageLoader.Load(temp["photo.jpg"], 3, 28, 28, maxPixels: 9_600).Length);
    }

    [Fact]
    public void A_large_photo_decodes_reduced_to_at_least_twice_the_target_and_close_to_a_whole_decode()
    {
        byte[] file = Jpeg(6000, 4000);
        var (_, width, height) = ImageLoader.Decode(file, "photo.jpg", rows: 300, columns: 300);
        Assert.Equal((1500, 1000), (width, height)); // 2/8: 1/8 would leave 500 rows, under twice 300
        var (_, smallWidth, smallHeight) = ImageLoader.Decode(file, "photo.jpg", rows: 224, columns: 224);
        Assert.Equal((750, 500), (smallWidth, smallHeight)); // 1/8

        var (rgba, fullWidth, fullHeight) = ImageLoader.Decode(file, "photo.jpg"); // no target: whole
        Assert.Equal((6000, 4000), (fullWidth, fullHeight));
        var gray = new byte[fullWidth * fullHeight];
        for (int i = 0; i < gray.Length; i++) gray[i] = ImageLoader.Luminance(rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
        var whole = ImageLoader.Fit(gray, 1, fullWidth, fullHeight, 28, 28);
        var reduced = ImageLoader.Load(file, "photo.jpg", 1, 28, 28);
        Assert.True(whole.Zip(reduced).Max(p => Math.Abs(p.First - p.Second)) <= 6, "the reduced decode stays within 6 levels of the whole one");
    }

    [Fact]
    public void A_file_that_is_not_an_image_is_named()
    {
        File.WriteAllText(temp["notes.png"], "not an image");
        Assert.StartsWith($"{temp["notes.png"]}: not an image that can be decoded", Assert.Throws<ImageException>(() => ImageLoader.Load(temp["notes.png"], 1, 28, 28)).Message);
    }
}
