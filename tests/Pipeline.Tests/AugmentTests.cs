using Build.Host;
using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Imaging;
using Pipeline.Parameters;
using Pipeline.Stages;
using Serilog.Core;
using SkiaSharp;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class AugmentTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>Random 28×28 images with labels 0–9.</summary>
    static ImageSplit RandomSplit(int count = 50, int seed = 3)
    {
        var images = new byte[count * 784];
        new Random(seed).NextBytes(images);
        return new ImageSplit("train", images, [.. Enumerable.Range(0, count).Select(i => (byte)(i % 10))], 28, 28);
    }

    /// <summary>
    /// Fifteen of the 27 operations, with probability 1 (or <paramref name="probability"/>), in one pipeline; left out are
    /// the fixed quarter turns, flips and skews (variants of those here), random_color (colour only) and erode and dilate.
    /// </summary>
    static AugmentOperation[] AllOperations(double probability = 1) =>
    [
        new Rotate { Probability = probability }, new RotateRandom90 { Probability = probability },
        new FlipRandom { Probability = probability }, new Skew { Probability = probability, Magnitude = 0.3 },
        new Shear { Probability = probability }, new RandomDistortion { Probability = probability },
        new GaussianDistortion { Probability = probability, Method = "out" }, new Zoom { Probability = probability },
        new Translate { Probability = probability },
        new CropRandom { Probability = probability, RandomisePercentageArea = true }, new CropCentre { Probability = probability },
        new RandomErasing { Probability = probability }, new RandomBrightness { Probability = probability },
        new RandomContrast { Probability = probability }, new Invert { Probability = probability },
    ];

    static AugmentParameters With(int samples, params AugmentOperation[] operations) => new() { Samples = samples, Operations = operations };

    [Fact]
    public void Rotate90_is_exactly_transpose_then_flip_top_bottom_and_so_is_the_bilinear_warp_at_90_degrees()
    {
        var split = RandomSplit(5);
        var result = Augmenter.Run(split, With(5, new Rotate90 { Probability = 1 }));
        var warp = new byte[784];
        for (int i = 0; i < 5; i++)
        {
            var original = split.Image(result.Sources[i]);
            var expected = new byte[784];
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    expected[y * 28 + x] = original[x * 28 + (27 - y)]; // transpose (y, x) then flip rows
            Assert.Equal(expected, result.Images.Image(i).ToArray());
            Warp.Apply(original.ToArray(), warp, 28, 28, 1, Affine.Rotation(28, 28, 90), 0);
            Assert.Equal(expected, warp);
        }
    }

    [Fact]
    public void Translate_moves_every_pixel_by_the_whole_pixels_it_records_and_fills_the_background()
    {
        var split = RandomSplit(40);
        var result = Augmenter.Run(split, With(40, new Translate { Probability = 1, MaxX = 3, MaxY = 2 }) with { Background = 7 });
        var moves = new HashSet<(int, int)>();
        for (int i = 0; i < 40; i++)
        {
            var move = JsonNode.Parse(result.Applied[i])![0]!;
            int dx = (int)move["x"]!, dy = (int)move["y"]!;
            moves.Add((dx, dy));
            Assert.InRange(dx, -3, 3);
            Assert.InRange(dy, -2, 2);
            var original = split.Image(result.Sources[i]);
            var expected = new byte[784];
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    expected[y * 28 + x] = x - dx is >= 0 and < 28 && y - dy is >= 0 and < 28 ? original[(y - dy) * 28 + x - dx] : (byte)7;
            Assert.Equal(expected, result.Images.Image(i).ToArray());
        }
        Assert.True(moves.Count >= 10, $"only {moves.Count} different moves in 40 images");
    }

    [Fact]
    public void Probability_0_leaves_every_image_identical_and_probability_1_always_applies()
    {
        var split = RandomSplit();
        var never = Augmenter.Run(split, With(200, AllOperations(probability: 0)));
        for (int i = 0; i < 200; i++)
            Assert.Equal(split.Image(never.Sources[i]).ToArray(), never.Images.Image(i).ToArray());
        Assert.All(never.Applied, a => Assert.Equal("[]", a));

        var always = Augmenter.Run(split, With(200, AllOperations(probability: 1)));
        Assert.All(always.TimesApplied, count => Assert.Equal(200, count));
        Assert.All(always.Applied, a => Assert.Equal(AllOperations().Length, JsonNode.Parse(a)!.AsArray().Count));
    }

    [Fact]
    public void Probability_0_3_fires_within_statistical_bounds()
    {
        // 20,000 outputs: the count is Binomial(20000, 0.3), σ ≈ 65; ±5σ fails by chance once in ~3.5 million runs.
        // Augmentor rounds its draw to one decimal, which would fire ~35% of the time (7,000 ≫ 6,325).
        const int n = 20_000;
        var result = Augmenter.Run(RandomSplit(20), With(n, new Invert { Probability = 0.3 }));
        double sigma = Math.Sqrt(n * 0.3 * 0.7);
        Assert.InRange(result.TimesApplied[0], n * 0.3 - 5 * sigma, n * 0.3 + 5 * sigma);
        Assert.Equal(result.TimesApplied[0], result.Applied.Count(a => a.Contains("invert")));
    }

    [Fact]
    public void One_thread_and_two_threads_give_identical_bytes_and_manifests()
    {
        var split = RandomSplit();
        var one = Augmenter.Run(split, With(1000, AllOperations(0.5)) with { Threads = 1 });
        var two = Augmenter.Run(split, With(1000, AllOperations(0.5)) with { Threads = 2 });
        Assert.Equal(one.Images.Images, two.Images.Images);
        Assert.Equal(one.Images.Labels, two.Images.Labels);
        Assert.Equal(one.Applied, two.Applied);
        Assert.NotEqual(one.Images.Images, Augmenter.Run(split, With(1000, AllOperations(0.5)) with { Seed = 7 }).Images.Images);
    }

    [Fact]
    public void Output_i_depends_only_on_the_seed_i_and_the_operations_not_on_how_many_are_made()
    {
        var split = RandomSplit();
        var few = Augmenter.Run(split, With(30, AllOperations(0.5)));
        var many = Augmenter.Run(split, With(300, AllOperations(0.5)));
        Assert.Equal(few.Images.Images, many.Images.Images.AsSpan(0, 30 * 784).ToArray());
    }

    [Fact]
    public void Every_original_is_used_once_before_any_is_used_twice()
    {
        var result = Augmenter.Run(RandomSplit(50), With(100, new Invert { Probability = 0 }));
        Assert.Equal(Enumerable.Range(0, 50), result.Sources.Take(50).Order());
        Assert.Equal(result.Sources.Take(50), result.Sources.Skip(50));
    }

    (VerifiedDataset Dataset, string Folder) MakeVerified(int count = 60)
    {
        string folder = temp["verify"];
        Directory.CreateDirectory(folder);
        var split = RandomSplit(count);
        File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.ImagesFile("train")), split.Images);
        File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.LabelsFile("train")), split.Labels);
        var dataset = new VerifiedDataset("random", [.. Enumerable.Range(0, 10).Select(i => i.ToString())], 28, 28,
            new(new Dictionary<string, int> { ["train"] = count }, StringComparer.Ordinal));
        CanonicalJson.WriteFile(Path.Combine(folder, VerifiedDataset.FileName), dataset);
        return (dataset, folder);
    }

    /// <summary>What the Augment stage does in one range: every sample's outputs, then what is drawn from the whole.</summary>
    static void Augment(VerifiedDataset dataset, string verified, AugmentParameters parameters, string output, Action<string, byte[]>? onFile = null)
    {
        AugmentStage.RunRange(dataset, verified, parameters, new ItemRange(0, parameters.Samples), output, Logger.None, onFile);
        AugmentStage.Complete(dataset, verified, parameters, output);
    }

    Dictionary<string, string> RunStage(VerifiedDataset dataset, string verified, AugmentParameters parameters, string name)
    {
        string output = temp[name];
        Directory.CreateDirectory(output);
        Augment(dataset, verified, parameters, output);
        return Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(output, f), ContentHash.OfFile);
    }

    [Fact]
    public void Two_runs_write_identical_files_which_read_back_as_a_verified_split_with_png_copies()
    {
        var (dataset, verified) = MakeVerified();
        var parameters = With(120, AllOperations(0.5)) with { Png = true, PreviewImages = 10 };
        var first = RunStage(dataset, verified, parameters, "first");
        Assert.Equal(first, RunStage(dataset, verified, parameters, "second"));
        Assert.Equal(5 + 120, first.Count); // arrays, dataset.json, manifest, preview, PNG files

        var output = temp["first"];
        using (var preview = SKBitmap.Decode(Path.Combine(output, AugmentStage.Preview)))
            Assert.Equal(ContactSheet.Size(2 * 10, 10, 28, 28, 3), (preview.Width, preview.Height)); // ten pairs
        var augmented = VerifiedDataset.Load(output).LoadSplit(output, "augmented");
        Assert.Equal(120, augmented.Count);
        for (int i = 0; i < 120; i++)
        {
            string png = Path.Combine(output, AugmentStage.PngFolder, augmented.Labels[i].ToString(), $"{i:D5}.png");
            Assert.Equal(augmented.Image(i).ToArray(), ImageLoader.Load(png, 1, 28, 28));
        }
    }

    [Fact]
    public async Task In_the_engine_unchanged_parameters_skip_the_stage_and_a_changed_operation_reruns_it()
    {
        var (dataset, verified) = MakeVerified();
        var store = new ArtifactStore(temp["artifacts"]);
        StageDefinition Define(AugmentParameters parameters) => new("augment", parameters);
        var parameters = With(50, new Rotate { Probability = 0.9 });
        await store.RunAsync(Define(parameters), (workspace, _) =>
        {
            Augment(dataset, verified, parameters, workspace.Directory, (path, bytes) => workspace.Declare(path, bytes));
            return Task.CompletedTask;
        });
        Assert.True(store.Check(Define(With(50, new Rotate { Probability = 0.9 }))).UpToDate);
        var changed = store.Check(Define(With(50, new Rotate { Probability = 0.8 })));
        Assert.False(changed.UpToDate);
        Assert.Contains("parameter operations", changed.Reason);
    }

    [Fact]
    public void The_manifest_lists_each_output_its_source_label_and_the_operations_applied_with_their_parameters()
    {
        var (dataset, verified) = MakeVerified();
        var parameters = With(40, new FlipLeftRight { Probability = 1 }, new Invert { Probability = 0 }, new Rotate { Probability = 0.5 });
        RunStage(dataset, verified, parameters, "out");
        var source = dataset.LoadSplit(verified, "train");
        var augmented = VerifiedDataset.Load(temp["out"]).LoadSplit(temp["out"], "augmented");
        var lines = File.ReadAllLines(temp[Path.Combine("out", AugmentStage.Manifest)]);
        Assert.Equal(40, lines.Length);
        int rotated = 0;
        for (int i = 0; i < 40; i++)
        {
            var line = JsonNode.Parse(lines[i])!;
            int from = (int)line["source"]!;
            Assert.Equal(i, (int)line["index"]!);
            Assert.Equal(source.Labels[from], (int)line["label"]!);
            var operations = line["operations"]!.AsArray();
            Assert.Equal("flip_left_right", (string)operations[0]!["op"]!);
            Assert.Equal("left_right", (string)operations[0]!["axis"]!);
            Assert.DoesNotContain(operations, o => (string)o!["op"]! == "invert");
            if (operations.Count == 1)
            {
                var flipped = new byte[784];
                Warp.FlipLeftRight(source.Image(from).ToArray(), flipped, 28, 28, 1);
                Assert.Equal(flipped, augmented.Image(i).ToArray());
            }
            else
            {
                rotated++;
                Assert.InRange((double)operations[1]!["angle"]!, -25, 25);
            }
        }
        Assert.InRange(rotated, 5, 35);
    }

    [Fact]
    public void Every_operation_changes_real_digits_and_keeps_the_background_outside()
    {
        var mnist = DatasetDefinition.Load("mnist", Path.Combine(TestHost.Root, "datasets"));
        DatasetVerifier.Verify(mnist, TestHost.MnistMirror, 5000, temp["verify"]);
        var test = VerifiedDataset.Load(temp["verify"]).LoadSplit(temp["verify"], "test");
        var first = new byte[100 * 784];
        test.Read(0, 100, first);
        var digits = new ImageSplit("test", first, test.Labels[..100], 28, 28);
        foreach (var operation in AllOperations().Concat([new Rotate90 { Probability = 1 }, new Rotate180 { Probability = 1 },
            new Rotate270 { Probability = 1 }, new FlipTopBottom { Probability = 1 }, new SkewTilt { Probability = 1 },
            new SkewCorner { Probability = 1 }, new SkewLeftRight { Probability = 1 }, new SkewTopBottom { Probability = 1 }]))
        {
            var result = Augmenter.Run(digits, With(100, operation));
            int changed = Enumerable.Range(0, 100).Count(i => !result.Images.Image(i).SequenceEqual(digits.Image(result.Sources[i])));
            Assert.True(changed >= 90, $"{operation.GetType().Name} changed only {changed} of 100 digits");
        }
    }

    /// <summary>The first 100 MNIST test digits, read straight from the offline mirror.</summary>
    static ImageSplit MnistDigits()
    {
        var images = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-images-idx3-ubyte.gz")), 3);
        var labels = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-labels-idx1-ubyte.gz")), 1);
        return new ImageSplit("test", images.Data[..(100 * 784)], labels.Data[..100], 28, 28);
    }

    /// <summary>
    /// Gray images are what every trained model so far learned from: each operation must keep giving MNIST exactly the
    /// bytes (and manifest) it gave when these were recorded, whatever is added for colour.
    /// </summary>
    [Theory]
    [InlineData("rotate", "a54a5ba91907e52f")]
    [InlineData("rotate90", "c855f2e0cb9ce7a2")]
    [InlineData("rotate180", "5bec39b0207c747e")]
    [InlineData("rotate270", "18b2af4f165848c1")]
    [InlineData("rotate_random_90", "81b53259ee99bee2")]
    [InlineData("flip_left_right", "499d7293be9ff29c")]
    [InlineData("flip_top_bottom", "1b41b8c5671c7ac0")]
    [InlineData("flip_random", "e617a5ad86e52eaf")]
    [InlineData("skew", "08a1eb04519eeedd")]
    [InlineData("skew_tilt", "7150bd4bba23a6f1")]
    [InlineData("skew_left_right", "8bf088920d4c04d8")]
    [InlineData("skew_top_bottom", "33228fd4dae098ed")]
    [InlineData("skew_corner", "14e9291ccf512e69")]
    [InlineData("shear", "d6e1594f914aadbe")]
    [InlineData("random_distortion", "4ddb729169d68ec5")]
    [InlineData("gaussian_distortion", "4344f1a5830b0f88")]
    [InlineData("zoom", "d48a7ac3dd2043cc")]
    [InlineData("crop_random", "c3c6829483fe3ae8")]
    [InlineData("crop_centre", "0bf3d61b5323fe6e")]
    [InlineData("random_erasing", "5589b09d22e05396")]
    [InlineData("random_brightness", "26b92caf163e0ed6")]
    [InlineData("random_contrast", "1afee1be97bf7d29")]
    [InlineData("invert", "aa071d9e6a084661")]
    public void Each_operation_gives_real_digits_the_bytes_it_always_gave(string op, string expected)
    {
        var operation = Augment($$"""{ "operations": [ { "op": "{{op}}", "probability": 0.8 } ] }""").Bind<AugmentParameters>("augment").Operations[0];
        var result = Augmenter.Run(MnistDigits(), With(300, operation) with { Seed = 5 });
        string hash = ContentHash.OfBytes([.. result.Images.Images, .. System.Text.Encoding.UTF8.GetBytes(string.Join("\n", result.Applied))]);
        Assert.Equal(expected, hash[..16]);
    }

    /// <summary>Plane <paramref name="channel"/> of every image of a colour split, as a gray split.</summary>
    static ImageSplit Channel(ImageSplit colour, int channel)
    {
        int plane = colour.Rows * colour.Columns;
        var images = new byte[colour.Count * plane];
        for (int i = 0; i < colour.Count; i++)
            colour.Image(i).Slice(channel * plane, plane).CopyTo(images.AsSpan(i * plane));
        return new ImageSplit(colour.Name, images, colour.Labels, colour.Rows, colour.Columns);
    }

    [Fact]
    public void On_colour_images_geometry_and_per_pixel_operations_do_to_each_channel_what_they_do_to_gray()
    {
        var colour = ColourData.Split("train", 40, rows: 32, columns: 36);
        // Operations whose result on a channel does not depend on the others; quarter turns need square images.
        var operations = AllOperations().Where(o => o is not (RandomErasing or RandomContrast or RotateRandom90))
            .Concat([new Rotate180 { Probability = 1 }, new FlipTopBottom { Probability = 1 }, new SkewCorner { Probability = 1 }]);
        foreach (var operation in operations)
        {
            var parameters = With(80, operation) with { Background = 30 };
            var result = Augmenter.Run(colour, parameters);
            Assert.Equal(3, result.Images.Channels);
            for (int c = 0; c < 3; c++)
                Assert.True(Channel(result.Images, c).Images.AsSpan().SequenceEqual(Augmenter.Run(Channel(colour, c), parameters).Images.Images),
                    $"{operation.GetType().Name}: channel {c} is not what the operation does to that channel alone");
            Assert.Equal(Augmenter.Run(Channel(colour, 0), parameters).Applied, result.Applied);
        }
    }

    [Fact]
    public void Random_erasing_fills_the_rectangle_with_colour_noise_and_leaves_the_rest()
    {
        var colour = ColourData.Split("train", 20);
        var result = Augmenter.Run(colour, With(20, new RandomErasing { Probability = 1 }));
        for (int i = 0; i < 20; i++)
        {
            var drawn = JsonNode.Parse(result.Applied[i])![0]!;
            int x = (int)drawn["x"]!, y = (int)drawn["y"]!, width = (int)drawn["width"]!, height = (int)drawn["height"]!;
            ReadOnlySpan<byte> before = colour.Image(result.Sources[i]), after = result.Images.Image(i);
            int inside = 0, grayNoise = 0;
            for (int row = 0; row < 32; row++)
                for (int column = 0; column < 32; column++)
                {
                    int at = row * 32 + column;
                    bool erased = row >= y && row < y + height && column >= x && column < x + width;
                    for (int c = 0; c < 3 && !erased; c++)
                        Assert.Equal(before[c * 1024 + at], after[c * 1024 + at]);
                    if (!erased) continue;
                    inside++;
                    if (after[at] == after[1024 + at] && after[at] == after[2048 + at]) grayNoise++;
                }
            Assert.Equal(width * height, inside);
            Assert.True(grayNoise <= inside / 10, $"output {i}: {grayNoise} of {inside} noise pixels are gray");
        }
    }

    [Fact]
    public void Random_contrast_on_colour_moves_every_channel_about_the_mean_gray_as_PIL_does()
    {
        var colour = ColourData.Split("train", 10);
        var result = Augmenter.Run(colour, With(10, new RandomContrast { Probability = 1 }));
        for (int i = 0; i < 10; i++)
        {
            float factor = (float)(double)JsonNode.Parse(result.Applied[i])![0]!["factor"]!;
            ReadOnlySpan<byte> before = colour.Image(result.Sources[i]);
            long sum = 0;
            for (int p = 0; p < 1024; p++) sum += ImageLoader.Luminance(before[p], before[1024 + p], before[2048 + p]);
            int mean = (int)(sum / 1024.0 + 0.5);
            for (int p = 0; p < 3 * 1024; p++)
                Assert.Equal((byte)Math.Clamp((int)MathF.Round(mean + (before[p] - mean) * factor), 0, 255), result.Images.Image(i)[p]);
        }
    }

    [Fact]
    public void Random_color_turns_colour_to_its_gray_at_0_keeps_it_at_1_and_refuses_gray_images()
    {
        var colour = ColourData.Split("train", 30);
        var gray = Augmenter.Run(colour, With(30, new RandomColor { Probability = 1, MinFactor = 0, MaxFactor = 0 }));
        var kept = Augmenter.Run(colour, With(30, new RandomColor { Probability = 1, MinFactor = 1, MaxFactor = 1 }));
        var varied = Augmenter.Run(colour, With(30, new RandomColor { Probability = 1, MinFactor = 0.2, MaxFactor = 1.8 }));
        for (int i = 0; i < 30; i++)
        {
            ReadOnlySpan<byte> before = colour.Image(gray.Sources[i]), after = gray.Images.Image(i);
            for (int p = 0; p < 1024; p++)
            {
                byte luma = ImageLoader.Luminance(before[p], before[1024 + p], before[2048 + p]);
                Assert.Equal((luma, luma, luma), (after[p], after[1024 + p], after[2048 + p]));
            }
            Assert.True(kept.Images.Image(i).SequenceEqual(colour.Image(kept.Sources[i])));
            double factor = (double)JsonNode.Parse(varied.Applied[i])![0]!["factor"]!;
            Assert.InRange(factor, 0.2, 1.8);
            Assert.Equal("random_color", (string)JsonNode.Parse(varied.Applied[i])![0]!["op"]!);
        }

        var error = Assert.Throws<AugmentException>(() => Augmenter.Run(RandomSplit(2), With(2, new Invert { Probability = 1 }, new RandomColor { Probability = 0.5 })));
        Assert.Equal("augment.operations[1] (random_color): changes colour, and these images are gray (1 channel); use it on RGB data (3 channels)", error.Message);
        var bound = Augment("""{ "operations": [ { "op": "random_color", "probability": 0.5, "min_factor": 0.1, "max_factor": 2 } ] }""").Bind<AugmentParameters>("augment");
        Assert.Equal(new RandomColor { Probability = 0.5, MinFactor = 0.1, MaxFactor = 2 }, Assert.Single(bound.Operations));
    }

    [Fact]
    public void On_colour_one_thread_and_two_threads_give_identical_bytes()
    {
        var colour = ColourData.Split("train", 50);
        var operations = AllOperations(0.5).Append(new RandomColor { Probability = 0.5 }).ToArray();
        var one = Augmenter.Run(colour, With(400, operations) with { Threads = 1 });
        var two = Augmenter.Run(colour, With(400, operations) with { Threads = 2 });
        Assert.Equal(one.Images.Images, two.Images.Images);
        Assert.Equal(one.Applied, two.Applied);
    }

    [Fact]
    public void The_stage_on_colour_writes_RGB_arrays_png_files_and_a_colour_preview()
    {
        var dataset = ColourData.Write(temp["verify"], perSplit: 30);
        var parameters = With(60, new Rotate { Probability = 1 }, new RandomColor { Probability = 1 }) with { Png = true, PreviewImages = 5 };
        RunStage(dataset, temp["verify"], parameters, "out");
        string output = temp["out"];
        var written = VerifiedDataset.Load(output);
        Assert.Equal((3, 32, 32), (written.Channels, written.Rows, written.Columns));
        var augmented = written.LoadSplit(output, "augmented");
        for (int i = 0; i < 60; i++)
        {
            string png = Path.Combine(output, AugmentStage.PngFolder, augmented.Labels[i].ToString(), $"{i:D5}.png");
            using (var codec = SKCodec.Create(png)) Assert.NotEqual(SKColorType.Gray8, codec.Info.ColorType);
            Assert.Equal(augmented.Image(i).ToArray(), ImageLoader.Load(png, 3, 32, 32));
        }
        // The preview's second tile is output 0 in its colours.
        using var preview = SKBitmap.Decode(Path.Combine(output, AugmentStage.Preview));
        int left = ContactSheet.Gap + 32 * 3 + ContactSheet.Gap;
        for (int y = 0; y < 32; y += 4)
            for (int x = 0; x < 32; x += 4)
            {
                var pixel = preview.GetPixel(left + 3 * x + 1, ContactSheet.Gap + 3 * y + 1);
                var image = augmented.Image(0);
                Assert.Equal((image[y * 32 + x], image[1024 + y * 32 + x], image[2048 + y * 32 + x]), (pixel.Red, pixel.Green, pixel.Blue));
            }
    }

    static ParameterSet Augment(string section) =>
        ParameterSet.Parse(JsonNode.Parse($$"""{ "augment": {{section}} }"""), "params.json", []);

    [Fact]
    public void The_default_is_the_reference_rotate_pipeline_and_operations_bind_in_order()
    {
        var defaults = PipelineParameters.Bind(ParameterSet.Load(Path.Combine(TestHost.Root, "params.json"), [])).Section<AugmentParameters>();
        var rotate = Assert.IsType<Rotate>(Assert.Single(defaults.Operations));
        Assert.Equal((0.9, 25.0, 25.0), (rotate.Probability, rotate.MaxLeftRotation, rotate.MaxRightRotation));
        Assert.Equal((42, 10000, "train", true), (defaults.Seed, defaults.Samples, defaults.Source, defaults.JoinTraining));

        var bound = Augment("""
            { "operations": [ { "probability": 0.5, "op": "shear", "max_shear_left": 5 },
                              { "op": "random_distortion", "probability": 1, "grid_width": 3, "grid_height": 2, "magnitude": 1.5 } ] }
            """).Bind<AugmentParameters>("augment");
        Assert.Equal(new Shear { Probability = 0.5, MaxShearLeft = 5 }, bound.Operations[0]);
        Assert.Equal(new RandomDistortion { Probability = 1, GridWidth = 3, GridHeight = 2, Magnitude = 1.5 }, bound.Operations[1]);
    }

    [Theory]
    [InlineData("""{ "operations": [ { "op": "rotat", "probability": 1 } ] }""", "augment.operations[0]: unknown operation 'rotat' (operations: rotate, rotate90,")]
    [InlineData("""{ "operations": [ { "probability": 1 } ] }""", "augment.operations[0]: \"op\" must name the operation (operations: rotate,")]
    [InlineData("""{ "operations": [ { "op": "rotate", "probability": 1.5 } ] }""", "augment.operations[0] (rotate): probability must be between 0 and 1, got 1.5")]
    [InlineData("""{ "operations": [ { "op": "invert", "probability": -0.1 } ] }""", "augment.operations[0] (invert): probability must be between 0 and 1, got -0.1")]
    [InlineData("""{ "operations": [ { "op": "zoom" } ] }""", "augment.operations[0] (zoom): probability is required")]
    [InlineData("""{ "operations": [ { "op": "invert", "probability": 1 }, { "op": "shear", "probability": 1, "max_shear_left": -3 } ] }""", "augment.operations[1] (shear): max_shear_left must be between 0 and 45, got -3")]
    [InlineData("""{ "operations": [ { "op": "rotate", "probability": 1, "max_left_rotation": -1 } ] }""", "augment.operations[0] (rotate): max_left_rotation must be between 0 and 180, got -1")]
    [InlineData("""{ "operations": [ { "op": "skew_tilt", "probability": 1, "magnitude": 2 } ] }""", "augment.operations[0] (skew_tilt): magnitude must be between 0 and 1, got 2")]
    [InlineData("""{ "operations": [ { "op": "random_distortion", "probability": 1, "magnitude": -2 } ] }""", "augment.operations[0] (random_distortion): magnitude must be between 0 and 100, got -2")]
    [InlineData("""{ "operations": [ { "op": "random_distortion", "probability": 1, "grid_width": 0 } ] }""", "augment.operations[0] (random_distortion): grid_width must be between 1 and 64, got 0")]
    [InlineData("""{ "operations": [ { "op": "zoom", "probability": 1, "min_factor": 1.5, "max_factor": 1.2 } ] }""", "augment.operations[0] (zoom): max_factor must be ≥ min_factor (1.5), got 1.2")]
    [InlineData("""{ "operations": [ { "op": "random_erasing", "probability": 1, "rectangle_area": 0 } ] }""", "augment.operations[0] (random_erasing): rectangle_area must be between 0.1 and 1, got 0")]
    [InlineData("""{ "operations": [ { "op": "random_brightness", "probability": 1, "min_factor": -1 } ] }""", "augment.operations[0] (random_brightness): min_factor must be ≥ 0, got -1")]
    [InlineData("""{ "operations": [ { "op": "gaussian_distortion", "probability": 1, "method": "sideways" } ] }""", "augment.operations[0] (gaussian_distortion): method must be \"in\" or \"out\", got \"sideways\"")]
    [InlineData("""{ "operations": [ { "op": "rotate", "probability": 1, "max_left": 5 } ] }""", "augment.operations[0] (rotate): max_left is not a parameter of 'rotate' (known: max_left_rotation, max_right_rotation, probability)")]
    [InlineData("""{ "operations": [ { "op": "rotate", "probability": "often" } ] }""", "augment.operations[0] (rotate): probability expects a number, got \"often\"")]
    [InlineData("""{ "operations": { "op": "rotate" } }""", "augment.operations expects a list of operations like {\"op\": \"rotate\", …}")]
    [InlineData("""{ "samples": 0 }""", "augment.samples must be between 1 and 2000000, got 0 (to train without augmented images: augment.join_training=false)")]
    [InlineData("""{ "source": "training" }""", "augment.source: unknown split 'training' (splits: train, validation, test)")]
    [InlineData("""{ "threads": -1 }""", "augment.threads must be ≥ 0 (0 = one per core), got -1")]
    public void A_bad_parameter_names_the_operation_and_the_key(string section, string message)
    {
        var error = Assert.Throws<ParameterException>(() => Augment(section).Bind<AugmentParameters>("augment"));
        Assert.StartsWith(message, error.Message);
    }

    [Fact]
    public void An_operation_that_cannot_work_on_the_images_says_so()
    {
        var wide = new ImageSplit("train", new byte[2 * 28 * 10], [0, 1], 10, 28);
        var error = Assert.Throws<AugmentException>(() => Augmenter.Run(wide, With(2, new Invert { Probability = 1 }, new Rotate90 { Probability = 1 })));
        Assert.Equal("augment.operations[1] (rotate90): needs square images, these are 28×10", error.Message);
        error = Assert.Throws<AugmentException>(() => Augmenter.Run(RandomSplit(2), With(2, new RandomDistortion { Probability = 1, GridWidth = 40 })));
        Assert.Equal("augment.operations[0] (random_distortion): a 40×4 grid does not fit 28×28 images", error.Message);
    }

    [Fact]
    public void Outputs_written_by_chunk_are_the_bytes_of_one_run()
    {
        var split = RandomSplit(count: 20);
        string folder = temp["chunked"];
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.ImagesFile("train")), split.Images);
        File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.LabelsFile("train")), split.Labels);
        var dataset = new VerifiedDataset("t", [.. Enumerable.Range(0, 10).Select(c => $"{c}")], 28, 28, new(new Dictionary<string, int> { ["train"] = 20 }));
        var parameters = With(45, AllOperations(0.5));
        AugmentStage.RunRange(dataset, folder, parameters, new ItemRange(0, 45), temp["out-chunked"], Serilog.Core.Logger.None, chunkImages: 7);
        var whole = Augmenter.Run(split, parameters);
        Assert.Equal(whole.Images.Images, File.ReadAllBytes(Path.Combine(temp["out-chunked"], VerifiedDataset.ImagesFile(Augmenter.SplitName))));
        Assert.Equal(whole.Images.Labels, File.ReadAllBytes(Path.Combine(temp["out-chunked"], VerifiedDataset.LabelsFile(Augmenter.SplitName))));
        var manifest = File.ReadAllLines(Path.Combine(temp["out-chunked"], AugmentStage.Manifest));
        Assert.Equal(45, manifest.Length);
        Assert.Equal($"{{\"index\":44,\"source\":{whole.Sources[44]},\"label\":{whole.Images.Labels[44]},\"operations\":{whole.Applied[44]}}}", manifest[44]);
    }
}
