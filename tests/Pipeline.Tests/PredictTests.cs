using System.Buffers.Binary;
using System.Diagnostics;
using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Imaging;
using Pipeline.Onnx;
using Pipeline.Prediction;
using Pipeline.Stages;
using Pipeline.Training;
using Pipeline.Training.Models;
using Pipeline.Training.Onnx;
using SkiaSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pipeline.Tests;

/// <summary>Real MNIST test digits from the offline mirror, read once.</summary>
static class MnistTest
{
    static readonly Lazy<ImageSplit> split = new(() =>
    {
        var images = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-images-idx3-ubyte.gz")), 3);
        var labels = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-labels-idx1-ubyte.gz")), 1);
        return new ImageSplit("test", images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2]);
    });

    public static ImageSplit Split => split.Value;

    public static ImageSplit First(int count) =>
        new("test", Split.Images[..(count * Split.ImageSize)], Split.Labels[..count], Split.Rows, Split.Columns);

    /// <summary>The first <paramref name="count"/> digits as Export writes them: <c>folder/&lt;label&gt;/&lt;index&gt;.png</c>.</summary>
    public static void WritePngs(string folder, int count)
    {
        for (int i = 0; i < count; i++)
        {
            string path = Path.Combine(folder, Split.Labels[i].ToString(), $"{i:D5}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, Png.Encode(Split.Image(i), Split.Columns, Split.Rows));
        }
    }
}

/// <summary>Decoding, channels and size: the one way a file becomes a model's pixels.</summary>
[Trait("Category", "Unit")]
public class ImageLoaderTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static byte[] Digit => MnistTest.Split.Image(0).ToArray();

    internal static byte[] Encode(byte[] pixels, int width, int height, SKColorType type, Func<SKPixmap, SKData?> encode)
    {
        var info = new SKImageInfo(width, height, type, type == SKColorType.Gray8 ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var encoded = encode(bitmap.PeekPixels())!;
        return encoded.ToArray();
    }

    /// <summary>A 24-bit BMP (Skia decodes BMP but does not write it).</summary>
    static byte[] Bmp(byte[] gray, int width, int height)
    {
        int stride = (width * 3 + 3) & ~3;
        var bmp = new byte[54 + stride * height];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), stride * height);
        for (int y = 0; y < height; y++) // bottom row first
            for (int x = 0; x < width; x++)
                bmp.AsSpan(54 + (height - 1 - y) * stride + 3 * x, 3).Fill(gray[y * width + x]);
        return bmp;
    }

    /// <summary>A GIF with a gray palette; 9-bit LZW codes, a clear code every 254 pixels so the table never grows past them.</summary>
    static byte[] Gif(byte[] gray, int width, int height)
    {
        var gif = new List<byte>("GIF89a"u8.ToArray());
        gif.AddRange([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0xF7, 0, 0]);
        for (int i = 0; i < 256; i++) gif.AddRange([(byte)i, (byte)i, (byte)i]);
        gif.AddRange([0x2C, 0, 0, 0, 0, (byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0, 8]);
        var bits = new List<bool>();
        void Code(int code) { for (int b = 0; b < 9; b++) bits.Add((code >> b & 1) == 1); }
        for (int i = 0; i < gray.Length; i++)
        {
            if (i % 254 == 0) Code(256);
            Code(gray[i]);
        }
        Code(257);
        var data = new byte[(bits.Count + 7) / 8];
        for (int i = 0; i < bits.Count; i++) if (bits[i]) data[i / 8] |= (byte)(1 << (i % 8));
        foreach (var block in data.Chunk(255)) { gif.Add((byte)block.Length); gif.AddRange(block); }
        gif.AddRange([0, 0x3B]);
        return [.. gif];
    }

    [Theory]
    [InlineData("png")]
    [InlineData("bmp")]
    [InlineData("gif")]
    [InlineData("webp")]
    [InlineData("jpg")]
    public void Every_format_decodes_to_the_digits_pixels(string format)
    {
        byte[] file = format switch
        {
            "png" => Png.Encode(Digit, 28, 28),
            "bmp" => Bmp(Digit, 28, 28),
            "gif" => Gif(Digit, 28, 28),
            "webp" => Encode(Digit, 28, 28, SKColorType.Gray8, p => p.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100))),
            _ => Encode(Digit, 28, 28, SKColorType.Gray8, p => p.Encode(new SKJpegEncoderOptions(100, SKJpegEncoderDownsample.Downsample444, SKJpegEncoderAlphaOption.Ignore))),
        };
        string path = temp[$"digit.{format}"];
        File.WriteAllBytes(path, file);
        var pixels = ImageLoader.Load(path, 1, 28, 28);
        if (format == "jpg") // lossy: close, not equal
            Assert.True(pixels.Zip(Digit).Max(p => Math.Abs(p.First - p.Second)) <= 8, "JPEG at quality 100 stays within 8 levels");
        else
            Assert.Equal(Digit, pixels);
    }

    [Fact]
    public void Colour_becomes_gray_by_PILs_rule_alpha_is_ignored_and_RGB_models_get_three_planes()
    {
        byte[] rgba = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 200, 30, 255, 255, 255, 255, 0, 77, 77, 77, 128];
        string path = temp["colours.png"];
        File.WriteAllBytes(path, Encode(rgba, 3, 2, SKColorType.Rgba8888, p => p.Encode(SKPngEncoderOptions.Default)));

        // Image.new("RGB", …).convert("L") in PIL: red 76, green 150, blue 29; gray stays gray.
        Assert.Equal([76, 150, 29, 124, 255, 77], ImageLoader.Load(path, 1, 2, 3));
        Assert.Equal([255, 0, 0, 10, 255, 77, 0, 255, 0, 200, 255, 77, 0, 0, 255, 30, 255, 77], ImageLoader.Load(path, 3, 2, 3));
        for (int v = 0; v < 256; v++) Assert.Equal(v, ImageLoader.Luminance((byte)v, (byte)v, (byte)v));
    }

    [Fact]
    public void The_shorter_side_is_fitted_and_the_centre_kept()
    {
        // A digit in the middle of a tall image, and of a wide one: no scaling is needed, only the crop.
        var tall = Enumerable.Repeat((byte)255, 28 * 56).ToArray();
        Digit.CopyTo(tall, 14 * 28);
        Assert.Equal(Digit, ImageLoader.Fit(tall, 1, 28, 56, 28, 28));
        var wide = new byte[56 * 28];
        for (int y = 0; y < 28; y++) Digit.AsSpan(y * 28, 28).CopyTo(wide.AsSpan(y * 56 + 14));
        Assert.Equal(Digit, ImageLoader.Fit(wide, 1, 56, 28, 28, 28));

        // PIL's bilinear reduction by 2 (by hand: triangle weights 3/7, 3/7, 1/7 at the edge).
        byte[] rows = [.. Enumerable.Repeat<byte[]>([0, 100, 200, 40], 4).SelectMany(r => r)];
        Assert.Equal([71, 117, 71, 117], ImageLoader.Fit(rows, 1, 4, 4, 2, 2));

        // A large photo of one colour stays that colour: the weights sum to one.
        var photo = Enumerable.Repeat((byte)93, 640 * 480).ToArray();
        Assert.All(ImageLoader.Fit(photo, 1, 640, 480, 28, 28), p => Assert.Equal(93, p));
    }

    [Fact]
    public void A_file_that_does_not_decode_is_named()
    {
        File.WriteAllText(temp["notes.png"], "not an image");
        var error = Assert.Throws<ImageException>(() => ImageLoader.Load(temp["notes.png"], 1, 28, 28));
        Assert.Equal($"{temp["notes.png"]}: not an image that can be decoded (PNG, JPEG, BMP, GIF or WebP)", error.Message);

        var png = Png.Encode(Digit, 28, 28);
        File.WriteAllBytes(temp["cut.png"], png[..(png.Length / 2)]);
        error = Assert.Throws<ImageException>(() => ImageLoader.Load(temp["cut.png"], 1, 28, 28));
        Assert.StartsWith($"{temp["cut.png"]}: cannot decode it", error.Message);
    }

    [Fact]
    public void Files_folders_and_globs_name_image_files_in_order_once_each()
    {
        MnistTest.WritePngs(temp["images"], 30);
        File.WriteAllText(temp[Path.Combine("images", "7", "README.txt")], "not an image");
        string seven = temp[Path.Combine("images", "7", "00000.png")];
        var all = Directory.EnumerateFiles(temp["images"], "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(all, ImageFiles.Find([temp["images"]], "/"));
        Assert.Equal(all, ImageFiles.Find(["images"], temp.Path)); // relative to the base folder
        Assert.Equal([seven, .. all.Where(f => f != seven)], ImageFiles.Find([seven, temp["images"]], "/"));
        Assert.Equal(all.Where(f => f.Contains("/7/")), ImageFiles.Find([temp[Path.Combine("images", "7")]], "/"));
        Assert.Equal(all.Where(f => f.Contains("/7/")), ImageFiles.Find([temp[Path.Combine("images", "?", "*")]], "/").Where(f => f.Contains("/7/")));
        Assert.Equal(all, ImageFiles.Find([temp[Path.Combine("images", "*")]], "/")); // matched folders are searched
        Assert.Equal(all.Where(f => f.EndsWith("0.png")), ImageFiles.Find([temp[Path.Combine("**", "*0.png")]], "/"));
        Assert.Equal([temp[Path.Combine("images", "7", "README.txt")]], ImageFiles.Find([temp[Path.Combine("images", "7", "README.txt")]], "/"));

        Directory.CreateDirectory(temp["empty"]);
        File.WriteAllText(temp[Path.Combine("empty", "a.txt")], "");
        // Messages name paths as a user would type them: relative to the working directory when inside it.
        Assert.Equal($"{temp["empty"]}: no image files in this folder or below it (.png, .jpg, .jpeg, .bmp, .gif, .webp)",
            Assert.Throws<ImageException>(() => ImageFiles.Find(["empty"], temp.Path)).Message);
        Assert.Equal($"{temp["nowhere/x.png"]}: no such file or folder", Assert.Throws<ImageException>(() => ImageFiles.Find(["nowhere/x.png"], temp.Path)).Message);
        Assert.StartsWith($"{temp["images/*.jpg"]}: matches no image file", Assert.Throws<ImageException>(() => ImageFiles.Find(["images/*.jpg"], temp.Path)).Message);
        Assert.Equal("nowhere/x.png: no such file or folder",
            Assert.Throws<ImageException>(() => ImageFiles.Find(["nowhere/x.png"], Directory.GetCurrentDirectory())).Message);
    }
}

/// <summary>The image loader against Debian's python3-pil: a Python process, so not a unit test.</summary>
[Trait("Category", "Integration")]
public class ImageLoaderPilTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static byte[] Encode(byte[] pixels, int width, int height, SKColorType type, Func<SKPixmap, SKData?> encode) =>
        ImageLoaderTests.Encode(pixels, width, height, type, encode);

    /// <summary>
    /// Photos of many sizes against what Python users run: PIL's <c>convert("L")</c>, then torchvision's
    /// <c>Resize(28)</c> + <c>CenterCrop(28)</c> (PIL's bilinear resize, Python's rounding), in Debian's python3-pil.
    /// </summary>
    [Fact]
    public void Gray_and_fitting_are_PILs_and_torchvisions_bit_for_bit()
    {
        const string script = """
            import sys
            try:
                from PIL import Image
            except ImportError:
                sys.exit("NO-PIL")
            for path in sys.argv[1:]:
                image = Image.open(path).convert("L")
                w, h = image.size
                short, long = sorted((w, h))
                size = (28, int(28 * long / short)) if w <= h else (int(28 * long / short), 28)
                image = image.resize(size, Image.BILINEAR)
                left, top = round((size[0] - 28) / 2), round((size[1] - 28) / 2)
                open(path + ".pil", "wb").write(image.crop((left, top, left + 28, top + 28)).tobytes())
                print("ok", path)
            """;
        var random = new Random(5);
        (int W, int H)[] sizes = [(40, 30), (100, 37), (13, 20), (300, 500), (28, 29), (56, 56), (1000, 750), (27, 27), (29, 100), (28, 28)];
        var files = sizes.Select((size, i) =>
        {
            var rgba = new byte[size.W * size.H * 4];
            random.NextBytes(rgba);
            for (int p = 3; p < rgba.Length; p += 4) rgba[p] = 255;
            string path = temp[$"photo{i}.png"];
            File.WriteAllBytes(path, Encode(rgba, size.W, size.H, SKColorType.Rgba8888, p => p.Encode(SKPngEncoderOptions.Default)));
            return path;
        }).ToList();
        var (exit, stdout, stderr) = OnnxExportTests.RunPython(script, files);
        Assert.False(stderr.Contains("NO-PIL"), $"{OnnxExportTests.Python} has no PIL: install Debian's python3-pil (run ./test.sh, which installs it: apt-get install -y python3-pil)");
        Assert.True(exit == 0, stdout + stderr);
        foreach (var file in files)
            Assert.True(File.ReadAllBytes(file + ".pil").SequenceEqual(ImageLoader.Load(file, 1, 28, 28)), $"{file} differs from PIL's");
    }
}

/// <summary>
/// The Predict stage on a briefly trained CNN: its answers against TorchSharp's, from the pipeline's folders and from the
/// ONNX file alone, reruns, errors, and the host's options.
/// </summary>
[Collection(TorchCollection.Name)]
[Trait("Category", "Integration")]
public class PredictTests(ITestOutputHelper output) : IDisposable
{
    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    const int Count = 500;

    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>A reference CNN trained for one epoch on 2,000 training digits, as Train leaves it: model.pt, model.json, model.onnx.</summary>
    static readonly Lazy<byte[][]> Trained = new(() =>
    {
        var images = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "train-images-idx3-ubyte.gz")), 3);
        var labels = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "train-labels-idx1-ubyte.gz")), 1);
        var split = new ImageSplit("train", images.Data[..(2000 * 784)], labels.Data[..2000], 28, 28);
        using var train = LabelledTensors.From(split);
        using var trainer = new Trainer(new TrainParameters { Model = "reference", Epochs = 1, BatchSize = 50, Seed = 11, MklIntelPath = false }, 10, train.ExampleShape);
        trainer.TrainEpoch(1, train, train);
        string folder = Directory.CreateTempSubdirectory("pipeline-predict-").FullName;
        try
        {
            trainer.Save(Path.Combine(folder, CheckpointedTraining.WeightsFile));
            return [File.ReadAllBytes(Path.Combine(folder, CheckpointedTraining.WeightsFile)),
                OnnxExport.ToBytes(trainer.Model, "reference", [1, 28, 28], Digits, OnnxPreprocessing.GrayPixels)];
        }
        finally { Directory.Delete(folder, recursive: true); }
    });

    /// <summary>Records a stage named <paramref name="stage"/> holding the trained model, as Train (or Transfer) would.</summary>
    static Task<StageRecord> RecordModel(ArtifactStore store, string stage, byte[]? onnx = null) =>
        store.RunAsync(new StageDefinition(stage, new { made_by = "test" }), (w, _) =>
        {
            File.WriteAllBytes(w.PathOf(CheckpointedTraining.WeightsFile), Trained.Value[0]);
            new TrainedModel("reference", Digits, [1, 28, 28], 2_770_634).Save(w.Directory);
            File.WriteAllBytes(w.PathOf(TrainingStage.OnnxFile), onnx ?? Trained.Value[1]);
            return Task.CompletedTask;
        });

    static StageContext Context(ArtifactStore store, params string[] overrides) =>
        TestStages.Context(store, TestStages.Parameters(["transfer.enabled=false", .. overrides]));

    static string Images(params string[] paths) => $"predict.images={System.Text.Json.JsonSerializer.Serialize(paths)}";

    sealed record Row(string Path, string? Model, string Predicted, float Probability, (string Class, float Probability)[] TopK, bool? Unlike = null);

    static List<Row> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        bool models = lines[0] == "path,model,predicted,probability,top_k,unlike_training";
        Assert.True(models || lines[0] == "path,predicted,probability,top_k,unlike_training", lines[0]);
        return [.. lines[1..].Select(l => l.Split(',')).Select(f => new Row(f[0], models ? f[1] : null, f[^4], float.Parse(f[^3]),
            [.. f[^2].Split(';').Select(t => t.Split(':')).Select(t => (t[0], float.Parse(t[1])))], f[^1] is "" ? null : f[^1] == "true"))];
    }

    [Fact]
    public async Task The_CNN_through_ONNX_gives_TorchSharps_answers_and_a_model_file_alone_gives_the_same()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        await RecordModel(store, "train");
        MnistTest.WritePngs(temp["own"], Count);
        var context = Context(store, Images(temp["own"]));
        Assert.Equal([TrainStage.Instance], PredictStage.Instance.Reads(context));
        await TestStages.Run(PredictStage.Instance, context);
        string predicted = Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile);
        var rows = ReadCsv(predicted);
        Assert.Equal(Count, rows.Count);
        Assert.All(rows, r => Assert.Equal(3, r.TopK.Length));

        // The pipeline's model in TorchSharp on the test arrays themselves, in the CSV's order: Export's PNGs load to exactly those bytes.
        var indices = rows.Select(r => int.Parse(Path.GetFileNameWithoutExtension(r.Path))).ToArray();
        var test = MnistTest.Split;
        var split = new ImageSplit("own", [.. indices.SelectMany(i => test.Image(i).ToArray())], [.. indices.Select(i => test.Labels[i])], 28, 28);
        var card = TrainedModel.Load(store.StageDirectory("train"));
        using var network = card.Open(store.StageDirectory("train"));
        float[] torch;
        using (var data = LabelledTensors.From(split)) torch = TrainedModel.Probabilities(network, data);
        var expected = Predictions.ArgMax(torch, 10);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(Digits[expected[i]], rows[i].Predicted);
            Assert.True(Math.Abs(torch[i * 10 + expected[i]] - rows[i].Probability) <= 1e-5, $"{rows[i].Path}: {torch[i * 10 + expected[i]]} vs {rows[i].Probability}");
            foreach (var (c, p) in rows[i].TopK)
                Assert.True(Math.Abs(torch[i * 10 + int.Parse(c)] - p) <= 1e-5, $"{rows[i].Path} class {c}");
        }
        // Every probability, unrounded: ONNX Runtime on the loaded files against TorchSharp.
        using (var classifier = OnnxClassifier.Load(Path.Combine(store.StageDirectory("train"), TrainingStage.OnnxFile)))
        {
            var onnx = classifier.Probabilities([.. rows.Select(r => ImageLoader.Load(Path.Combine(TestHost.Root, r.Path), 1, 28, 28))]);
            float worst = onnx.Zip(torch).Max(p => Math.Abs(p.First - p.Second));
            output.WriteLine($"{rows.Count} images: max |Δ probability| {worst:E2}");
            Assert.True(worst <= 1e-5, $"max |Δ probability| {worst}");
        }
        double accuracy = ClassificationMetrics.Compute(split.Labels, torch, Digits).Accuracy;
        Assert.Equal(accuracy, rows.Count(r => r.Predicted == Path.GetFileName(Path.GetDirectoryName(r.Path))) / (double)rows.Count);
        output.WriteLine($"accuracy on the {rows.Count} PNG files {accuracy:P2}, as on the test arrays");

        // The ONNX file alone, in an artifacts folder without any stage: the same answers, and Train is not read.
        File.Copy(Path.Combine(store.StageDirectory("train"), TrainingStage.OnnxFile), temp["model.onnx"]);
        var alone = new ArtifactStore(temp["alone"]);
        var withFile = Context(alone, Images(temp["own"]), $"predict.model={temp["model.onnx"]}");
        Assert.Empty(PredictStage.Instance.Reads(withFile));
        await TestStages.Run(PredictStage.Instance, withFile);
        Assert.Equal(File.ReadAllText(predicted), File.ReadAllText(Path.Combine(alone.StageDirectory("predict"), PredictStage.CsvFile)));
        using var sheet = SKBitmap.Decode(Path.Combine(alone.StageDirectory("predict"), PredictStage.SheetFile));
        Assert.Equal(ContactSheet.Size(100, 10, 28, 28, 4), (sheet.Width, sheet.Height));
    }

    [Fact]
    public async Task Both_models_answer_in_one_file_and_an_edited_image_reruns_the_stage()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        await RecordModel(store, "train");
        random.manual_seed(3);
        using (var other = ModelCatalog.Create("compact", 10, [1, 28, 28]))
            await RecordModel(store, "transfer", OnnxExport.ToBytes(other, "compact", [1, 28, 28], Digits, OnnxPreprocessing.GrayPixels));
        MnistTest.WritePngs(temp["own"], 12);
        var context = Context(store, "transfer.enabled=true", Images(temp["own"]), "predict.top=2");
        Assert.Equal([TrainStage.Instance, TransferStage.Instance], PredictStage.Instance.Reads(context));
        await TestStages.Run(PredictStage.Instance, context);
        var rows = ReadCsv(Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile));
        Assert.Equal(24, rows.Count);
        Assert.Equal(Enumerable.Repeat<string?[]>(["cnn", "transfer"], 12).SelectMany(m => m), rows.Select(r => r.Model));
        Assert.All(rows, r => Assert.Equal(2, r.TopK.Length));
        Assert.All(rows.Chunk(2), pair => Assert.Equal(pair[0].Path, pair[1].Path));

        Assert.True(store.Check(PredictStage.Instance.Define(context)).UpToDate);
        string edited = Directory.EnumerateFiles(temp["own"], "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        string before = ContentHash.OfFile(edited);
        File.WriteAllBytes(edited, Png.Encode(MnistTest.Split.Image(100), 28, 28));
        var status = store.Check(PredictStage.Instance.Define(context));
        Assert.False(status.UpToDate);
        Assert.StartsWith($"parameter pins.images.{edited}: \"{before}\" → ", status.Reason);
    }

    [Fact]
    public async Task Missing_images_an_empty_folder_a_missing_model_and_a_broken_file_are_named_and_nothing_is_recorded()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        Directory.CreateDirectory(temp["empty"]);
        Assert.StartsWith("no images to classify: give --images=PATH",
            Assert.Throws<PredictException>(() => PredictStage.Instance.CheckRequest(Context(store))).Message);
        Assert.Equal($"{temp["gone.png"]}: no such file or folder",
            Assert.Throws<ImageException>(() => PredictStage.Instance.CheckRequest(Context(store, Images(temp["gone.png"])))).Message);
        Assert.StartsWith($"{temp["empty"]}: no image files in this folder",
            Assert.Throws<ImageException>(() => PredictStage.Instance.CheckRequest(Context(store, Images(temp["empty"])))).Message);
        MnistTest.WritePngs(temp["own"], 3);
        Assert.Equal($"predict.model: {Path.Combine(TestHost.Root, "nowhere.onnx")}: no such file",
            Assert.Throws<PredictException>(() => PredictStage.Instance.CheckRequest(Context(store, Images(temp["own"]), "predict.model=nowhere.onnx"))).Message);

        await RecordModel(store, "train");
        File.WriteAllText(temp[Path.Combine("own", "broken.jpg")], "<html>not found</html>");
        var context = Context(store, Images(temp["own"]));
        var error = await Assert.ThrowsAsync<ImageException>(() => TestStages.Run(PredictStage.Instance, context));
        Assert.StartsWith($"{temp[Path.Combine("own", "broken.jpg")]}: not an image that can be decoded", error.Message);
        Assert.Null(store.ReadRecord("predict"));
    }

    [Fact]
    public void Scaling_is_the_training_scaling_bit_for_bit()
    {
        var split = MnistTest.First(50);
        using var tensors = LabelledTensors.From(split);
        var scaled = new float[split.Images.Length];
        OnnxClassifier.Scale(split.Images, scaled);
        Assert.Equal(tensors.Images.data<float>().ToArray(), scaled);
    }

    sealed record Run(int ExitCode, string Output, string Error)
    {
        public string Row(string task) => Output.Split('\n').FirstOrDefault(l => l.StartsWith(task + " ", StringComparison.Ordinal))?.Trim() ?? "";
    }

    static async Task<Run> Host(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Build.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Run(process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task The_host_runs_Predict_from_a_model_file_without_Train_and_reruns_only_when_an_image_changes()
    {
        File.WriteAllBytes(temp["model.onnx"], Trained.Value[1]);
        MnistTest.WritePngs(temp["own"], 20);
        string[] args = [$"--artifacts={temp["artifacts"]}", "--target=Predict", $"--model={temp["model.onnx"]}", $"--images={temp["own"]}", "--top=2"];
        var run = await Host(args);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.Contains("skipped (not needed)", run.Row("Train"));
        Assert.Contains("skipped (not needed)", run.Row("Download"));
        Assert.Contains("executed", run.Row("Predict"));
        Assert.Matches(@"own/7/00000\.png  model\.onnx: 7 \d+\.\d\d%, \d \d+\.\d\d%", run.Output);
        Assert.Equal(21, File.ReadAllLines(temp[Path.Combine("artifacts", "predict", PredictStage.CsvFile)]).Length);
        Assert.Null(StageRecord.TryRead(temp[Path.Combine("artifacts", "train")]));

        Assert.Contains("skipped (up to date)", (await Host(args)).Row("Predict"));
        Assert.Contains("skipped (up to date)", (await Host([.. args, "--set=predict.top=2"])).Row("Predict"));
        File.WriteAllBytes(temp[Path.Combine("own", "7", "00000.png")], Png.Encode(MnistTest.Split.Image(1), 28, 28));
        Assert.Contains("executed", (await Host(args)).Row("Predict"));

        File.WriteAllText(temp[Path.Combine("own", "broken.png")], "not an image");
        var broken = await Host(args);
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains("broken.png: not an image that can be decoded", broken.Output);
        Assert.Contains("FAILED", broken.Row("Predict"));
    }

    [Theory]
    [InlineData("--target=Predict", "no images to classify: give --images=PATH")]
    [InlineData("--target=Predict --images=IMAGES/nothing-here.png", "nothing-here.png: no such file or folder")]
    [InlineData("--target=Predict --images=EMPTY", "no image files in this folder or below it")]
    [InlineData("--target=Predict --images=EMPTY/*.png", "matches no image file")]
    [InlineData("--target=Predict --images=IMAGES --model=IMAGES/none.onnx", "none.onnx: no such file")]
    [InlineData("--target=Predict --images=IMAGES --top=0", "--top=0: expected a whole number ≥ 1")]
    [InlineData("--target=Verify --images=IMAGES", "--images, --top and --model are options of --target=Predict")]
    public async Task A_usage_mistake_with_Predict_exits_2_naming_it_and_writes_nothing(string args, string message)
    {
        Directory.CreateDirectory(temp["empty"]);
        MnistTest.WritePngs(temp["images"], 1);
        var run = await Host([$"--artifacts={temp["artifacts"]}", .. args.Replace("IMAGES", temp["images"]).Replace("EMPTY", temp["empty"]).Split(' ')]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
        Assert.False(Directory.Exists(temp["artifacts"]));
    }

    /// <summary>The test model's file with MNIST's framing in its metadata, as Train writes it.</summary>
    static byte[] Framed()
    {
        var model = WireMessage.Parse(Trained.Value[1]);
        model.Add(OnnxProto.ModelFields.MetadataProps, new WireMessage().Add(OnnxProto.EntryFields.Key, FramingStatistics.MetadataKey)
            .Add(OnnxProto.EntryFields.Value, MnistFraming.Statistics.ToJson()));
        return model.ToByteArray();
    }

    [Fact]
    public async Task A_dark_seven_in_a_page_corner_is_a_7_a_blank_page_is_marked_and_the_model_file_alone_answers_the_same()
    {
        int size = 200;
        var page = new byte[size * size];
        page.AsSpan().Fill(250);
        var seven = ImageLoader.Resize(MnistTest.Split.Image(0).ToArray(), 1, 28, 28, 84, 84); // MNIST's first test digit, a 7
        for (int y = 0; y < 84; y++)
            for (int x = 0; x < 84; x++)
                page[(size - 90 + y) * size + size - 88 + x] = (byte)(250 - seven[y * 84 + x] * 250 / 255);
        Directory.CreateDirectory(temp["own"]);
        File.WriteAllBytes(temp[Path.Combine("own", "seven.png")], Png.Encode(page, size, size));
        page.AsSpan().Fill(250);
        File.WriteAllBytes(temp[Path.Combine("own", "blank.png")], Png.Encode(page, size, size));

        var store = new ArtifactStore(temp["artifacts"]);
        await RecordModel(store, "train", Framed());
        await TestStages.Run(PredictStage.Instance, Context(store, Images(temp["own"])));
        string csv = File.ReadAllText(Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile));
        output.WriteLine(csv);
        var rows = ReadCsv(Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile)).ToDictionary(r => Path.GetFileName(r.Path));
        Assert.Equal("7", rows["seven.png"].Predicted);
        Assert.False(rows["seven.png"].Unlike);
        Assert.True(rows["blank.png"].Unlike);
        var record = store.ReadRecord("predict")!;
        Assert.Equal(1, (int)record.Metrics["unlike_training"]!);

        // The file alone carries the framing: the same answers, byte for byte.
        File.WriteAllBytes(temp["model.onnx"], Framed());
        var alone = new ArtifactStore(temp["alone"]);
        await TestStages.Run(PredictStage.Instance, Context(alone, Images(temp["own"]), $"predict.model={temp["model.onnx"]}"));
        Assert.Equal(csv, File.ReadAllText(Path.Combine(alone.StageDirectory("predict"), PredictStage.CsvFile)));

        // framing=none: the page resized whole, dark on light, is marked unlike the training images.
        var plain = new ArtifactStore(temp["plain"]);
        await TestStages.Run(PredictStage.Instance, Context(plain, Images(temp["own"]), $"predict.model={temp["model.onnx"]}", "predict.framing=none"));
        Assert.All(ReadCsv(Path.Combine(plain.StageDirectory("predict"), PredictStage.CsvFile)), r => Assert.True(r.Unlike));
    }

    [Fact]
    public async Task Digits_rendered_from_fonts_are_read_far_better_framed()
    {
        var script = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(TestHost.Root, "tests", "make_font_digits.py"), temp["fonts"], "--count", "300"])
            { RedirectStandardError = true };
        using (var process = Process.Start(script)!)
        {
            string error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, "tests/make_font_digits.py: " + error);
        }
        File.WriteAllBytes(temp["model.onnx"], Framed());
        var accuracy = new Dictionary<string, double>();
        foreach (var framing in new[] { "auto", "none" })
        {
            var store = new ArtifactStore(temp["artifacts-" + framing]);
            await TestStages.Run(PredictStage.Instance, Context(store, Images(temp["fonts"]), $"predict.model={temp["model.onnx"]}", $"predict.framing={framing}"));
            var rows = ReadCsv(Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile));
            Assert.Equal(300, rows.Count);
            accuracy[framing] = rows.Count(r => r.Predicted == Path.GetFileName(Path.GetDirectoryName(r.Path))) / (double)rows.Count;
            output.WriteLine($"framing={framing}: {accuracy[framing]:P1} right, {rows.Count(r => r.Unlike == true)} marked unlike the training images");
        }
        Assert.True(accuracy["auto"] >= accuracy["none"] + 0.3, $"auto {accuracy["auto"]}, none {accuracy["none"]}");
    }
}
