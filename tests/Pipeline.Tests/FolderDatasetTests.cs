using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>
/// Folder datasets on real images: Fashion-MNIST test images written by PIL as colour JPEG, PNG, BMP, GIF and WebP
/// files of mixed sizes in class folders (tests/make_folder_dataset.py, which CI uses too), through the real Download
/// and Verify stages.
/// </summary>
[Trait("Category", "Integration")]
public class FolderDatasetTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>Runs tests/make_folder_dataset.py (Debian's python3-pil) into <paramref name="folder"/>.</summary>
    internal static void Build(string folder, params string[] options)
    {
        string script = File.ReadAllText(Path.Combine(TestHost.Root, "tests", "make_folder_dataset.py"));
        var (exit, stdout, stderr) = OnnxExportTests.RunPython(script,
            [folder, "--source", Path.GetDirectoryName(TestHost.Required(Path.Combine(TestHost.FashionMirror, "t10k-images-idx3-ubyte.gz")))!, .. options]);
        Assert.True(exit == 0, $"make_folder_dataset.py failed (exit {exit}): {stdout}{stderr}"
            + (stderr.Contains("No module named 'PIL'") ? "\nDebian's python3-pil is missing: run ./test.sh, which installs it" : ""));
    }

    /// <summary>A definition file holding <paramref name="json"/>; returns its path.</summary>
    string Definition(string json, string name = "clothes.json")
    {
        File.WriteAllText(temp[name], json);
        return temp[name];
    }

    /// <summary>Download and Verify through the engine; the stage context used.</summary>
    async Task<StageContext> Verify(string definition, string artifacts = "artifacts", IReadOnlyList<string>? mirrors = null, params string[] overrides)
    {
        var context = TestStages.Context(new ArtifactStore(temp[artifacts]),
            TestStages.Parameters([$"download.dataset={definition}", .. overrides]), mirrors);
        await TestStages.Run(DownloadStage.Instance, context);
        await TestStages.Run(VerifyStage.Instance, context);
        return context;
    }

    static Inventory ReadInventory(StageContext context) =>
        System.Text.Json.JsonSerializer.Deserialize<Inventory>(
            File.ReadAllText(Path.Combine(context.OutputOf(VerifyStage.Instance), Inventory.FileName)), CanonicalJson.Options)!;

    /// <summary>
    /// What Python users get from the same folder, written as Verify's arrays: the documented split rule (SHA-256 of the
    /// relative path, bands validation, test, train; order by class then path), PIL's decoding and convert(), then
    /// torchvision's Resize + CenterCrop (bilinear) or PIL's ImageOps.pad (bilinear).
    /// </summary>
    const string PilReference = """
        import hashlib, json, os, sys
        from PIL import Image, ImageOps
        root, out, channels, size, resize, background = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
        fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
        classes = sorted(d for d in os.listdir(root) if not d.startswith("."))
        splits = {"train": [], "validation": [], "test": []}
        for label, name in enumerate(classes):
            for folder, _, files in os.walk(os.path.join(root, name)):
                for f in files:
                    path = os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")
                    u = int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big") / 2**64
                    split = "validation" if u < fractions["validation"] else "test" if u < fractions["validation"] + fractions["test"] else "train"
                    splits[split].append((label, path))
        for split, entries in splits.items():
            images, labels = bytearray(), bytearray()
            for label, path in sorted(entries):
                try:
                    image = Image.open(os.path.join(root, path))
                    image.load()
                except Exception:
                    continue
                image = image.convert("L" if channels == 1 else "RGB")
                if resize == "pad":
                    image = ImageOps.pad(image, (size, size), method=Image.BILINEAR, color=background if channels == 1 else (background,) * 3)
                else:
                    w, h = image.size
                    short, long = sorted((w, h))
                    scaled = (size, int(size * long / short)) if w <= h else (int(size * long / short), size)
                    image = image.resize(scaled, Image.BILINEAR)
                    left, top = round((scaled[0] - size) / 2), round((scaled[1] - size) / 2)
                    image = image.crop((left, top, left + size, top + size))
                for band in image.split():
                    images += band.tobytes()
                labels.append(label)
            open(os.path.join(out, split + "-images.u8"), "wb").write(images)
            open(os.path.join(out, split + "-labels.u8"), "wb").write(labels)
        print("ok")
        """;

    [Theory]
    [InlineData(3, 32, "crop", 0)]
    [InlineData(1, 24, "pad", 200)]
    public async Task Mixed_formats_and_sizes_verify_into_the_arrays_PIL_gives(int channels, int size, string resize, int background)
    {
        Build(temp["clothes"], "--per-class", "12");
        string definition = Definition($$"""
            { "name": "clothes", "kind": "folder", "path": "clothes", "channels": {{channels}}, "image_size": {{size}},
              "resize": "{{resize}}", "background": {{background}} }
            """);
        var context = await Verify(definition);
        string verified = context.OutputOf(VerifyStage.Instance);
        var dataset = VerifiedDataset.Load(verified);
        Assert.Equal((channels, size, size), (dataset.Channels, dataset.Rows, dataset.Columns));
        Assert.Equal(120, dataset.Splits.Values.Sum());
        Assert.Equal(["Ankle boot", "Bag", "Coat", "Dress", "Pullover", "Sandal", "Shirt", "Sneaker", "T-shirt_top", "Trouser"], dataset.Classes);
        Assert.True(File.Exists(Path.Combine(verified, FolderVerifier.SheetFile)));

        Directory.CreateDirectory(temp["pil"]);
        var (exit, stdout, stderr) = OnnxExportTests.RunPython(PilReference,
            [temp["clothes"], temp["pil"], $"{channels}", $"{size}", resize, $"{background}"]);
        Assert.True(exit == 0, stdout + stderr);
        foreach (var split in VerifiedDataset.SplitOrder)
        {
            Assert.Equal(File.ReadAllBytes(temp[$"pil/{split}-labels.u8"]), File.ReadAllBytes(Path.Combine(verified, VerifiedDataset.LabelsFile(split))));
            byte[] pil = File.ReadAllBytes(temp[$"pil/{split}-images.u8"]), ours = File.ReadAllBytes(Path.Combine(verified, VerifiedDataset.ImagesFile(split)));
            Assert.Equal(pil.Length, ours.Length);
            int differ = Enumerable.Range(0, pil.Length).Count(i => pil[i] != ours[i]);
            Assert.True(differ == 0, $"{split}: {differ} of {pil.Length:N0} bytes differ from PIL's");
        }
    }

    [Fact]
    public async Task A_truncated_jpeg_fails_naming_it_and_with_skip_unreadable_is_left_out_and_listed()
    {
        Build(temp["clothes"], "--per-class", "4", "--broken");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");
        var error = await Assert.ThrowsAsync<DatasetException>(() => Verify(definition));
        Assert.Contains($"{temp["clothes/Bag/broken-truncated.jpg"]}: ", error.Message);
        Assert.Contains($"{temp["clothes/Coat/notes.png"]}: not an image that can be decoded", error.Message);
        Assert.Contains("--set verify.skip_unreadable=true", error.Message);
        var store = new ArtifactStore(temp["artifacts"]);
        Assert.Null(store.ReadRecord("verify")); // nothing recorded
        Assert.False(Directory.Exists(store.StageDirectory("verify")));

        var context = await Verify(definition, overrides: "verify.skip_unreadable=true");
        var inventory = ReadInventory(context);
        Assert.Equal(["Bag/broken-truncated.jpg", "Coat/notes.png"], inventory.Skipped!.Select(s => s.Path));
        Assert.Equal(40, inventory.Counts.Values.Sum());
    }

    [Fact]
    public async Task Adding_ten_files_to_a_class_folder_moves_no_existing_file_to_another_split()
    {
        Build(temp["clothes"], "--per-class", "30");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 28 }""");
        var before = SplitsOfImages(await Verify(definition));

        Build(temp["more"], "--per-class", "10", "--first", "30");
        foreach (var file in Directory.GetFiles(temp["more/Bag"]))
            File.Move(file, Path.Combine(temp["clothes/Bag"], Path.GetFileName(file)));
        var context = await Verify(definition);
        Assert.Equal(310, context.RecordOf(DownloadStage.Instance).Metrics["files"]!.GetValue<int>()); // Download saw the new files
        var after = SplitsOfImages(context);
        Assert.Equal(before.Count + 10, after.Count);
        foreach (var (image, split) in before)
            Assert.Equal(split, after[image]);
    }

    /// <summary>Each image's bytes (hex) and its split.</summary>
    static Dictionary<string, string> SplitsOfImages(StageContext context)
    {
        var (dataset, folder) = VerifyStage.Load(context);
        var splits = new Dictionary<string, string>();
        foreach (var split in VerifiedDataset.SplitOrder)
        {
            var images = dataset.LoadSplit(folder, split);
            for (int i = 0; i < images.Count; i++)
                splits.Add(Convert.ToHexString(images.Image(i)), split);
        }
        return splits;
    }

    [Fact]
    public async Task An_image_in_two_splits_is_reported()
    {
        Build(temp["clothes"], "--per-class", "10");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");
        var original = Directory.GetFiles(temp["clothes/Dress"]).Order(StringComparer.Ordinal).First();
        string originalPath = "Dress/" + Path.GetFileName(original);
        var recorded = DatasetDefinition.Load(definition, temp.Path) with { SplitBy = "hash" };
        string split = FolderVerifier.SplitOf(recorded, originalPath, false);
        string copy = Enumerable.Range(0, 100).Select(k => $"Dress/copy-{k}{Path.GetExtension(original)}")
            .First(p => FolderVerifier.SplitOf(recorded, p, false) != split);
        File.Copy(original, temp[$"clothes/{copy}"]);

        var leaks = ReadInventory(await Verify(definition)).Leaks!;
        var leak = Assert.Single(leaks);
        Assert.Equal(new[] { originalPath, copy }.Order(StringComparer.Ordinal), leak.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
        Assert.Equal(2, leak.Files.Select(f => f.Split).Distinct().Count());
    }

    [Theory]
    [InlineData("zip")]
    [InlineData("tar.gz")]
    public async Task A_pinned_archive_is_served_through_a_mirror_folder_and_a_wrong_pin_fails(string kind)
    {
        Build(temp["clothes"], "--per-class", "5", "--layout", "folders");
        Directory.CreateDirectory(temp["mirror"]);
        string archive = temp[$"mirror/clothes.{kind}"];
        // The archive holds one folder, clothes/, as archives of a dataset usually do.
        if (kind == "zip")
            ZipFile.CreateFromDirectory(temp["clothes"], archive, CompressionLevel.Fastest, includeBaseDirectory: true);
        else
            using (var gzip = new GZipStream(File.Create(archive), CompressionLevel.Fastest))
                TarFile.CreateFromDirectory(temp["clothes"], gzip, includeBaseDirectory: true);
        long size = new FileInfo(archive).Length;
        string sha256 = ContentHash.OfFile(archive);
        string Json(string hash) => $$"""
            { "name": "clothes", "kind": "folder", "channels": 3, "image_size": 16,
              "archive": { "url": "https://example.invalid/data/clothes.{{kind}}", "size": {{size}}, "sha256": "{{hash}}" } }
            """;

        var context = await Verify(Definition(Json(sha256)), mirrors: [temp["mirror"]]);
        var inventory = ReadInventory(context);
        Assert.Equal(50, inventory.Counts.Values.Sum());
        Assert.Equal(10, inventory.Classes.Count);
        var local = ReadInventory(await Verify(Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""", "local.json"), "local"));
        Assert.Equal(local.PerClass, inventory.PerClass); // the same split folders, whether extracted or local
        foreach (var split in VerifiedDataset.SplitOrder)
            Assert.Equal(File.ReadAllBytes(Path.Combine(temp["local/verify"], VerifiedDataset.ImagesFile(split))),
                File.ReadAllBytes(Path.Combine(context.OutputOf(VerifyStage.Instance), VerifiedDataset.ImagesFile(split))));

        // A wrong pin: every mirror's copy is refused, naming the archive; the definition's own URL is given as a local
        // folder here so that the test never waits for a network.
        string wrong = Json(new string('0', 64)).Replace("https://example.invalid/data/", temp["nowhere"] + "/");
        var error = await Assert.ThrowsAsync<DownloadException>(() => Verify(Definition(wrong, "wrong.json"), "wrong", [temp["mirror"]]));
        Assert.Contains($"clothes.{kind}: no mirror gave a good copy", error.Message);
        Assert.Contains("does not match the pinned 0000", error.Message);
        Assert.Null(new ArtifactStore(temp["wrong"]).ReadRecord("download"));
    }

    [Fact]
    public async Task An_archive_entry_that_climbs_out_of_the_folder_is_refused()
    {
        Directory.CreateDirectory(temp["mirror"]);
        string archive = temp["mirror/evil.zip"];
        using (var zip = ZipFile.Open(archive, ZipArchiveMode.Create))
        {
            zip.CreateEntry("clothes/a/1.png").Open().Dispose();
            using var writer = new StreamWriter(zip.CreateEntry("../../escaped.txt").Open());
            writer.Write("outside");
        }
        string definition = Definition($$"""
            { "name": "evil", "kind": "folder", "channels": 1, "image_size": 8,
              "archive": { "url": "{{temp["mirror"]}}/evil.zip", "size": {{new FileInfo(archive).Length}}, "sha256": "{{ContentHash.OfFile(archive)}}" } }
            """);
        var error = await Assert.ThrowsAsync<DatasetException>(() => Verify(definition));
        Assert.Equal("evil.zip: entry '../../escaped.txt' would be written outside the folder it is extracted into", error.Message);
        Assert.False(File.Exists(Path.Combine(temp["artifacts"], "escaped.txt")));
        Assert.Empty(Directory.GetFiles(temp.Path, "escaped.txt", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_empty_class_folder_and_a_file_outside_the_class_folders_are_named()
    {
        Build(temp["clothes"], "--per-class", "2");
        Directory.CreateDirectory(temp["clothes/Hat"]);
        File.WriteAllText(temp["clothes/README.txt"], "about these clothes");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");
        var error = await Assert.ThrowsAsync<DatasetException>(() => Verify(definition));
        Assert.Contains("README.txt: not in a class folder", error.Message);
        Assert.Contains("Hat/: empty class folder", error.Message);
        Assert.StartsWith($"{definition}: {temp["clothes"]}: ", error.Message);
    }

    [Fact]
    public async Task A_class_folder_named_with_a_backslash_is_refused_by_its_name()
    {
        // On Linux and macOS a backslash is part of a folder's name, not a separator: the class is refused as a name,
        // not split into two folders that do not exist.
        if (OperatingSystem.IsWindows()) return; // there a backslash is a separator and cannot be in a name
        Build(temp["clothes"], "--per-class", "2");
        string first = Directory.GetDirectories(temp["clothes"]).Order(StringComparer.Ordinal).First();
        Directory.Move(first, first + "\\x");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");
        var error = await Assert.ThrowsAsync<DatasetException>(() => Verify(definition));
        Assert.Contains($"{Path.GetFileName(first)}\\x", error.Message);
        Assert.Contains("is not safe as a folder name", error.Message);
    }

    [Fact]
    public void A_folder_definition_is_checked_as_strictly_as_an_IDX_one()
    {
        DatasetException Load(string json) => Assert.Throws<DatasetException>(() => DatasetDefinition.Load(Definition(json, "bad.json"), temp.Path));
        var error = Load("""
            { "name": "clothes", "kind": "folder", "path": "clothes", "archive": { "url": "https://example.org/c.rar", "size": 0, "sha256": "x" },
              "channels": 2, "image_size": 4, "resize": "stretch", "split_by": "random", "files": {},
              "split_fractions": { "train": 0.8, "validation": 0.3, "test": 0.1 } }
            """);
        foreach (var problem in new[]
        {
            "files is for kind \"idx\" only", "give path (a local folder) or archive", "archive: 'c.rar' is not a .zip, .tar.gz or .tgz file",
            "archive: sha256 must be 64 lowercase hex digits", "archive: size must be > 0, got 0", "channels must be 1 (gray) or 3 (RGB), got 2",
            "image_size must be between 8 and 1024, got 4", "resize must be \"crop\" or \"pad\", got \"stretch\"",
            "split_by must be \"auto\", \"folders\" or \"hash\", got \"random\"", "split_fractions must sum to 1, got 1.2",
        })
            Assert.Contains(problem, error.Message);
        Assert.Contains("'colour' could not be mapped", Load("""{ "name": "c", "kind": "folder", "path": "c", "channels": 3, "image_size": 32, "colour": true }""").Message);
        Assert.Contains("image_size is required", Load("""{ "name": "c", "kind": "folder", "path": "c", "channels": 3 }""").Message);
        Assert.Contains("channels is for kind \"folder\" only", Load("""{ "name": "c", "mirrors": [], "classes": ["a", "b"], "splits": {}, "files": {}, "channels": 3 }""").Message);

        // The smallest definition: every other field takes its documented default, and the path is the definition's folder's.
        var smallest = DatasetDefinition.Load(Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 32 }"""), temp.Path);
        Assert.Equal((temp["clothes"], "crop", 0, "auto"), (smallest.Path, smallest.Resize, smallest.Background, smallest.SplitBy));
        Assert.Equal(new Dictionary<string, double> { ["test"] = 0.1, ["train"] = 0.8, ["validation"] = 0.1 }, smallest.SplitFractions);
    }

    [Fact]
    public async Task A_rerun_with_nothing_changed_is_up_to_date_and_a_changed_file_reruns_Download_and_Verify()
    {
        Build(temp["clothes"], "--per-class", "3");
        string definition = Definition("""{ "name": "clothes", "kind": "folder", "path": "clothes", "channels": 3, "image_size": 16 }""");
        var context = await Verify(definition);
        Assert.True(context.Store.Check(DownloadStage.Instance.Define(context)).UpToDate);
        // files.json is written by the serializer directly: it must be the canonical form all the same.
        string listing = File.ReadAllText(Path.Combine(context.OutputOf(DownloadStage.Instance), FolderListing.FileName)).TrimEnd('\n');
        Assert.Equal(CanonicalJson.Serialize(JsonNode.Parse(listing)), listing);
        Assert.Equal(30, FolderListing.Read(context.OutputOf(DownloadStage.Instance))!.Files.Count);
        File.SetLastWriteTimeUtc(temp["clothes/Bag/test-00030.png"], DateTime.UtcNow.AddMinutes(-5)); // touched: the same content
        Assert.True(context.Store.Check(DownloadStage.Instance.Define(context)).UpToDate);
        var png = File.ReadAllBytes(temp["clothes/Bag/test-00030.png"]);
        png[^20] ^= 1; // the same size, one bit changed
        File.WriteAllBytes(temp["clothes/Bag/test-00030.png"], png);
        var status = context.Store.Check(DownloadStage.Instance.Define(context));
        Assert.False(status.UpToDate);
        Assert.Contains("pins.content", status.Reason);
    }
}
