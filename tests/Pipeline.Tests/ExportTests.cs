using Pipeline.Acquisition;
using Pipeline.Imaging;
using Pipeline.Stages;
using Serilog.Core;
using SkiaSharp;

namespace Pipeline.Tests;

[Trait("Category", "Integration")]
public class ExportTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>A verified dataset of random 28×28 images, written as the Verify stage writes it.</summary>
    (VerifiedDataset Dataset, string Folder) MakeVerified(int perSplit = 40, string[]? classes = null)
    {
        string folder = temp["verify"];
        Directory.CreateDirectory(folder);
        classes ??= [.. Enumerable.Range(0, 10).Select(i => i.ToString())];
        var random = new Random(3);
        foreach (var split in VerifiedDataset.SplitOrder)
        {
            var images = new byte[perSplit * 784];
            random.NextBytes(images);
            File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.ImagesFile(split)), images);
            File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.LabelsFile(split)),
                [.. Enumerable.Range(0, perSplit).Select(i => (byte)(i % classes.Length))]);
        }
        var dataset = new VerifiedDataset("random", classes, 28, 28,
            new(VerifiedDataset.SplitOrder.ToDictionary(s => s, _ => perSplit), StringComparer.Ordinal));
        CanonicalJson.WriteFile(Path.Combine(folder, VerifiedDataset.FileName), dataset);
        return (dataset, folder);
    }

    /// <summary>What the Export stage does in one range: every image's files (reusing right ones from <paramref name="salvage"/>), then the sheets.</summary>
    static ExportResult Export(VerifiedDataset dataset, string verified, ExportParameters parameters, string output, params string?[] salvage)
    {
        var result = Exporter.ExportRange(dataset, verified, parameters, new ItemRange(0, Exporter.Items(dataset, parameters)), output, salvage, Logger.None);
        Exporter.Complete(dataset, verified, parameters, output);
        return result;
    }

    [Fact]
    public void Every_file_decodes_to_exactly_its_pixels_in_the_image_folder_layout_with_a_manifest()
    {
        var (dataset, verified) = MakeVerified();
        var result = Export(dataset, verified, new ExportParameters { OneHot = true }, temp["export"]);
        Assert.Equal(120, result.Written);

        var lines = File.ReadAllLines(temp[Path.Combine("export", Exporter.Manifest)]);
        Assert.Equal("path,split,index,label,class,pixels_sha256,one_hot", lines[0]);
        Assert.Equal(121, lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            var split = dataset.LoadSplit(verified, f[1]);
            int index = int.Parse(f[2]);
            Assert.Equal($"{f[1]}/{f[4]}/{index:D5}.png", f[0]);
            Assert.Equal(split.Labels[index].ToString(), f[3]);
            string png = temp[Path.Combine("export", f[0])];
            var (_, width, height) = ImageLoader.Decode(File.ReadAllBytes(png), png);
            Assert.Equal((28, 28), (width, height));
            var pixels = ImageLoader.Load(png, 1, 28, 28);
            Assert.Equal(split.Image(index).ToArray(), pixels);
            Assert.Equal(ContentHash.OfBytes(pixels), f[5]);
            Assert.Equal(Exporter.OneHot(split.Labels[index], 10), f[6]);
        }
        using var codec = SKCodec.Create(temp[Path.Combine("export", "train", "0", "00000.png")]);
        Assert.Equal(SKColorType.Gray8, codec.Info.ColorType); // 8-bit grayscale, no colormap
    }

    [Fact]
    public void Raising_the_limit_writes_only_the_new_files_and_a_tampered_file_is_rewritten()
    {
        var (dataset, verified) = MakeVerified();
        Export(dataset, verified, new ExportParameters { Limit = 10, Splits = ["train"] }, temp["first"]);
        string tampered = temp[Path.Combine("first", "train", "3", "00003.png")];
        var bytes = File.ReadAllBytes(tampered);
        bytes[^20] ^= 0xff;
        File.WriteAllBytes(tampered, bytes);

        var result = Export(dataset, verified, new ExportParameters { Limit = 20, Splits = ["train"] }, temp["second"], temp["first"]);
        Assert.Equal((11, 9), (result.Written, result.Reused)); // 10 new + the tampered one
        var pixels = ImageLoader.Load(temp[Path.Combine("second", "train", "3", "00003.png")], 1, 28, 28);
        Assert.Equal(dataset.LoadSplit(verified, "train").Image(3).ToArray(), pixels);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("..")]
    [InlineData("a/b")]
    public void A_class_name_that_is_not_a_safe_folder_name_is_rejected(string name)
    {
        var (dataset, verified) = MakeVerified(classes: ["ok", name]);
        // The rule DatasetDefinition.Load applies, here for a dataset.json that did not come from a definition.
        var error = Assert.Throws<DatasetException>(() => Export(dataset, verified, new ExportParameters(), temp["export"]));
        Assert.StartsWith($"{Path.Combine(verified, VerifiedDataset.FileName)}: class '{name}' (label 1) is not safe as a folder name", error.Message);
        Assert.False(Directory.Exists(temp["escape"]));
    }

    [Fact]
    public void Contact_sheets_have_the_expected_size_and_drawn_labels()
    {
        var (dataset, verified) = MakeVerified();
        Export(dataset, verified, new ExportParameters { SheetImages = 20 }, temp["export"]);
        using var sheet = SKBitmap.Decode(temp[Path.Combine("export", Exporter.Sheets, "train.png")]);
        var (width, height) = ContactSheet.Size(20, 10, 28, 28, 3);
        Assert.Equal((width, height), (sheet.Width, sheet.Height));
        // The caption strip under the first tile must hold dark (text) pixels: a missing font draws nothing.
        int dark = 0;
        for (int y = ContactSheet.Gap + 84; y < ContactSheet.Gap + 84 + ContactSheet.CaptionHeight; y++)
            for (int x = ContactSheet.Gap; x < ContactSheet.Gap + 84; x++)
                if (sheet.GetPixel(x, y).Red < 128) dark++;
        Assert.InRange(dark, 5, 84 * ContactSheet.CaptionHeight / 2);
        Assert.True(File.Exists(temp[Path.Combine("export", Exporter.Sheets, "classes.png")]));
    }

    [Fact]
    public void A_contact_sheet_of_large_images_scales_them_down_so_its_size_does_not_grow_with_the_images()
    {
        // Twenty 580×580 photos at 3× would make a 17,444×3,510 sheet (245 MB as RGBA); each tile is drawn 160 px.
        var tiles = Enumerable.Range(0, 20).Select(i => new Tile(new byte[3 * 580 * 580], 580, 580, $"#{i}", Channels: 3)).ToList();
        using var sheet = SKBitmap.Decode(ContactSheet.Render(tiles, columns: 10, scale: 3));
        Assert.Equal((ContactSheet.Gap + 10 * (160 + ContactSheet.Gap), ContactSheet.Gap + 2 * (160 + ContactSheet.CaptionHeight + ContactSheet.Gap)),
            (sheet.Width, sheet.Height));
        Assert.Equal((160, 80), ContactSheet.TileSize(580, 290, 3)); // aspect kept
        Assert.Equal((84, 84), ContactSheet.TileSize(28, 28, 3)); // small images keep their scale
    }

    [Fact]
    public void Text_art_shows_a_colour_image_by_its_luminance()
    {
        var gray = new byte[] { 0, 60, 120, 255 };
        Assert.Equal(TextArt.Render(gray, 2, 2), TextArt.Render((byte[])[.. gray, .. gray, .. gray], 2, 2, channels: 3));
        // Pure red, green and blue: luma 76, 150 and 29 of 255.
        Assert.Equal("::++..\n".ReplaceLineEndings(), TextArt.Render((byte[])[255, 0, 0, 0, 255, 0, 0, 0, 255], 3, 1, channels: 3));
    }

    [Fact]
    public void A_missing_font_is_a_clear_error_not_blank_labels()
    {
        var error = Assert.Throws<FontException>(() => Fonts.Load(temp["no-such-font.ttf"]));
        Assert.Contains("no usable font for labels", error.Message);
    }

    /// <summary>
    /// Every file of the manifest decoded by Debian's PIL (python3-pil) against the array Verify wrote: the mode
    /// (L or RGB) and exactly the pixels, interleaved as PIL gives them. Returns how many files were checked.
    /// </summary>
    static int CheckWithPil(string export, string verified, VerifiedDataset dataset)
    {
        const string script = """
            import csv, os, sys
            try:
                import numpy as np
                from PIL import Image
            except ImportError:
                sys.exit("NO-PIL")
            export, verified, channels, rows, columns = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
            arrays, checked = {}, 0
            for row in csv.DictReader(open(os.path.join(export, "manifest.csv"))):
                split = row["split"]
                if split not in arrays:
                    arrays[split] = np.fromfile(os.path.join(verified, split + "-images.u8"), np.uint8).reshape(-1, channels, rows, columns)
                expected = arrays[split][int(row["index"])].transpose(1, 2, 0)
                image = Image.open(os.path.join(export, row["path"]))
                assert image.mode == ("L" if channels == 1 else "RGB"), (row["path"], image.mode)
                actual = np.asarray(image)
                actual = actual[:, :, None] if actual.ndim == 2 else actual
                assert actual.shape == expected.shape and (actual == expected).all(), row["path"]
                checked += 1
            print(checked)
            """;
        var (exit, stdout, stderr) = OnnxExportTests.RunPython(script,
            [export, verified, $"{dataset.Channels}", $"{dataset.Rows}", $"{dataset.Columns}"]);
        Assert.False(stderr.Contains("NO-PIL"), $"{OnnxExportTests.Python} has no PIL: install Debian's python3-pil (run ./test.sh, which installs it: apt-get install -y python3-pil)");
        Assert.True(exit == 0, $"PIL does not read the files back as the arrays (exit {exit}):\n{stdout}\n{stderr}");
        return int.Parse(stdout);
    }

    [Fact]
    public void Colour_images_are_RGB_PNG_files_that_PIL_and_the_loader_decode_to_exactly_the_arrays()
    {
        // Not square, on purpose: rows and columns must not be swapped anywhere.
        var dataset = ColourData.Write(temp["verify"], perSplit: 20, rows: 32, columns: 40);
        Export(dataset, temp["verify"], new ExportParameters { SheetImages = 20 }, temp["export"]);

        Assert.Equal(60, CheckWithPil(temp["export"], temp["verify"], dataset));
        var lines = File.ReadAllLines(temp[Path.Combine("export", Exporter.Manifest)]).Skip(1).Select(l => l.Split(',')).ToList();
        foreach (var f in lines)
        {
            var image = dataset.LoadSplit(temp["verify"], f[1]).Image(int.Parse(f[2])).ToArray();
            Assert.Equal(image, ImageLoader.Load(temp[Path.Combine("export", f[0])], 3, 32, 40));
            Assert.Equal(ContentHash.OfBytes(image), f[5]); // the hash is over the array's bytes, C×H×W
        }
        using (var codec = SKCodec.Create(temp[Path.Combine("export", lines[0][0])]))
            Assert.Equal((40, 32), (codec.Info.Width, codec.Info.Height));

        // The sheets show the colours: the first tile of classes.png is the first training image of class 0, scaled by 3.
        var train = dataset.LoadSplit(temp["verify"], "train");
        int first = Array.IndexOf(train.Labels, (byte)0);
        using var sheet = SKBitmap.Decode(temp[Path.Combine("export", Exporter.Sheets, "classes.png")]);
        for (int y = 0; y < 32; y += 5)
            for (int x = 0; x < 40; x += 5)
            {
                var pixel = sheet.GetPixel(ContactSheet.Gap + 3 * x + 1, ContactSheet.Gap + 3 * y + 1);
                int at = y * 40 + x, plane = 32 * 40;
                Assert.Equal((train.Image(first)[at], train.Image(first)[plane + at], train.Image(first)[2 * plane + at]), (pixel.Red, pixel.Green, pixel.Blue));
            }
    }

    [Fact]
    public void Gray_files_decode_in_PIL_to_exactly_the_arrays()
    {
        var (dataset, verified) = MakeVerified(perSplit: 10);
        Export(dataset, verified, new ExportParameters(), temp["export"]);
        Assert.Equal(30, CheckWithPil(temp["export"], verified, dataset));
    }

    [Fact]
    public void A_sample_of_real_mnist_round_trips_exactly()
    {
        var mnist = DatasetDefinition.Load("mnist", Path.Combine(TestHost.Root, "datasets"));
        DatasetVerifier.Verify(mnist, TestHost.MnistMirror, 5000, temp["verify"]);
        var dataset = VerifiedDataset.Load(temp["verify"]);
        Export(dataset, temp["verify"], new ExportParameters { Limit = 300, Splits = ["test"] }, temp["export"]);
        var test = dataset.LoadSplit(temp["verify"], "test");
        var files = new List<byte>();
        for (int i = 0; i < 300; i++)
        {
            string path = temp[Path.Combine("export", "test", test.Labels[i].ToString(), $"{i:D5}.png")];
            Assert.Equal(test.Image(i).ToArray(), ImageLoader.Load(path, 1, 28, 28));
            files.AddRange(File.ReadAllBytes(path));
        }
        // Gray files stay the bytes they always were (same encoder settings), whatever colour support adds.
        Assert.Equal("ec835bf201e4037e", ContentHash.OfBytes([.. files])[..16]);
    }
}
