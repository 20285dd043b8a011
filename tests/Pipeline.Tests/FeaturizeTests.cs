using Build.Host;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Acquisition;
using Pipeline.Features;
using Pipeline.Onnx;
using Pipeline.Parameters;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

[Trait("Category", "Integration")]
public class FeaturizeTests : IDisposable
{
    const string Zoo = "mobilenetv2-12-int8.onnx";
    const string CrossCheck = "mobilenetv2-12-int8-featurizer.onnx";
    const string CrossCheckSha256 = "03aa81ab490e9041475cbbe678888ce8bff91ac50f448507cd499622ffb3f09a";

    readonly TempFolder temp = new();
    readonly ArtifactStore store;

    public FeaturizeTests() => store = new ArtifactStore(temp["artifacts"]);

    public void Dispose() => temp.Dispose();

    static string Model(string name) => TestHost.Required(Path.Combine(TestHost.ModelsMirror, name));

    /// <summary>The zoo backbone from the offline mirror, pinned as params.json pins it.</summary>
    static FeaturizeParameters Local(int inputSize = 32) => new(Backbone: Model(Zoo), InputSize: inputSize);

    /// <summary>A random preprocessed batch of <paramref name="count"/> digits at <paramref name="size"/>.</summary>
    static float[] RandomBatch(int count, int size)
    {
        var preprocessor = new ImagePreprocessor(28, 28, size);
        var random = new Random(7);
        var batch = new float[count * preprocessor.TensorLength];
        var image = new byte[784];
        for (int i = 0; i < count; i++)
        {
            random.NextBytes(image);
            preprocessor.Write(image, batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
        }
        return batch;
    }

    /// <summary>A verified dataset of random digits, recorded as the Verify stage records it.</summary>
    async Task MakeVerifyStage(int perSplit = 12)
    {
        await store.RunAsync(new StageDefinition("verify", new { perSplit }), (w, _) =>
        {
            var random = new Random(3);
            foreach (var split in VerifiedDataset.SplitOrder)
            {
                var images = new byte[perSplit * 784];
                random.NextBytes(images);
                File.WriteAllBytes(w.PathOf(VerifiedDataset.ImagesFile(split)), images);
                File.WriteAllBytes(w.PathOf(VerifiedDataset.LabelsFile(split)), [.. Enumerable.Range(0, perSplit).Select(i => (byte)(i % 10))]);
            }
            CanonicalJson.WriteFile(w.PathOf(VerifiedDataset.FileName), new VerifiedDataset("random", [.. Enumerable.Range(0, 10).Select(i => $"{i}")], 28, 28,
                new(VerifiedDataset.SplitOrder.ToDictionary(s => s, _ => perSplit), StringComparer.Ordinal)));
            return Task.CompletedTask;
        });
    }

    StageContext Context(FeaturizeParameters p) => TestStages.Context(store, TestStages.Parameters("download.retries=0"), p);

    Task<StageRecord> RunStage(FeaturizeParameters p) => TestStages.Run(FeaturizeStage.Instance, Context(p));

    [Fact]
    public void The_protobuf_edit_gives_the_cross_check_model_and_its_features()
    {
        var (edited, dim) = FeaturizerGraph.FromClassifier(File.ReadAllBytes(Model(Zoo)), Zoo);
        Assert.Equal(CrossCheckSha256, ContentHash.OfBytes(edited)); // the same two edits, every other byte copied through
        Assert.Equal(1280, dim);

        using var featurizer = Featurizer.Load(Model(Zoo));
        using var reference = new InferenceSession(Model(CrossCheck));
        foreach (int size in new[] { 32, 96 })
        {
            const int count = 4;
            var batch = RandomBatch(count, size);
            var features = new float[count * featurizer.Dim];
            featurizer.Run(batch, count, size, features);

            using var input = OrtValue.CreateTensorValueFromMemory(batch, [count, 3, size, size]);
            using var outputs = reference.Run(new RunOptions(), ["input"], [input], ["features"]);
            Assert.Equal([count, 1280, 1, 1], outputs[0].GetTensorTypeAndShape().Shape);
            var expected = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - features[i]) <= 1e-4f, $"{size}×{size}: feature {i} is {features[i]}, the cross-check gives {expected[i]}");
            Assert.Contains(features, f => f > 0.1f); // real activations, not a zero vector
        }
    }

    [Fact]
    public void Preprocessing_a_known_image_gives_the_expected_tensor()
    {
        // A plane 4·row + 5·column: bilinear interpolation reproduces it exactly, so every value is known.
        var image = new byte[784];
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++)
                image[r * 28 + c] = (byte)(4 * r + 5 * c);
        foreach (int size in new[] { 32, 56, 64 })
        {
            var preprocessor = new ImagePreprocessor(28, 28, size);
            var tensor = new float[preprocessor.TensorLength];
            preprocessor.Write(image, tensor);
            // align_corners=false: output pixel i samples the source at (i + 0.5) · 28 / size − 0.5, clamped to the edges.
            double Source(int i) => Math.Clamp((i + 0.5) * 28 / size - 0.5, 0, 27);
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                    {
                        double gray = (4 * Source(y) + 5 * Source(x)) / 255;
                        double expected = (gray - ImagePreprocessor.Mean[ch]) / ImagePreprocessor.Std[ch];
                        Assert.True(Math.Abs(tensor[(ch * size + y) * size + x] - expected) < 1e-5, $"size {size}, channel {ch}, ({y}, {x})");
                    }
        }

        var at56 = new float[3 * 56 * 56];
        new ImagePreprocessor(28, 28, 56).Write(image, at56);
        Assert.Equal((1.25f / 255 - 0.485f) / 0.229f, at56[1], 5);                     // red, row 0, x 1: a quarter of the way to pixel 1
        Assert.Equal((243f / 255 - 0.406f) / 0.225f, at56[3 * 56 * 56 - 1], 5);       // blue, the last pixel: the bright corner
    }

    [Fact]
    public void Colour_goes_to_the_backbone_channel_by_channel_and_gray_is_the_same_value_in_all_three()
    {
        // Three different planes, each exactly reproduced by bilinear interpolation, so every value is known.
        static double Plane(int c, double r, double x) => c switch { 0 => 4 * r + 5 * x, 1 => 250 - 3 * r - 2 * x, _ => 7 * r + x };
        var image = new byte[3 * 28 * 30];
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < 28; r++)
                for (int x = 0; x < 30; x++)
                    image[(c * 28 + r) * 30 + x] = (byte)Plane(c, r, x);
        var preprocessor = new ImagePreprocessor(28, 30, 48, channels: 3);
        var tensor = new float[preprocessor.TensorLength];
        preprocessor.Write(image, tensor);
        double Source(int i, int n) => Math.Clamp((i + 0.5) * n / 48 - 0.5, 0, n - 1);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 48; y++)
                for (int x = 0; x < 48; x++)
                {
                    double expected = (Plane(c, Source(y, 28), Source(x, 30)) / 255 - ImagePreprocessor.Mean[c]) / ImagePreprocessor.Std[c];
                    Assert.True(Math.Abs(tensor[(c * 48 + y) * 48 + x] - expected) < 1e-5, $"channel {c}, ({y}, {x})");
                }

        // A gray image and the colour image with that gray in R, G and B give the backbone the same tensor, bit for bit.
        var gray = image[..(28 * 30)];
        var (fromGray, fromColour) = (new float[preprocessor.TensorLength], new float[preprocessor.TensorLength]);
        new ImagePreprocessor(28, 30, 48).Write(gray, fromGray);
        preprocessor.Write((byte[])[.. gray, .. gray, .. gray], fromColour);
        Assert.Equal(fromGray, fromColour);
    }

    [Fact]
    public async Task On_colour_images_larger_than_input_size_the_stage_uses_their_size_and_records_their_shape()
    {
        await store.RunAsync(new StageDefinition("verify", new { colour = 40 }), (w, _) =>
        {
            ColourData.Write(w.Directory, perSplit: 6, rows: 40, columns: 40);
            return Task.CompletedTask;
        });
        await RunStage(Local(inputSize: 32));
        string folder = store.StageDirectory(FeaturizeStage.Instance.Name);
        var set = FeatureSet.Load(folder);
        Assert.Equal((40, 3, 40, 40), (set.Manifest.InputSize, set.Manifest.Channels, set.Manifest.Rows, set.Manifest.Columns));

        // The features are the backbone's on the RGB images at 40×40, not on a gray version.
        var test = VerifiedDataset.Load(store.StageDirectory("verify")).LoadSplit(store.StageDirectory("verify"), "test");
        var preprocessor = new ImagePreprocessor(40, 40, 40, channels: 3);
        var batch = new float[test.Count * preprocessor.TensorLength];
        for (int i = 0; i < test.Count; i++) preprocessor.Write(test.Image(i), batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
        using var featurizer = Featurizer.Load(Model(Zoo));
        var expected = new float[test.Count * featurizer.Dim];
        featurizer.Run(batch, test.Count, 40, expected);
        Assert.Equal(expected, set["test"].Features);
        Assert.Equal((32, 64, 40), (Local(32).InputSizeFor(28, 28), Local(64).InputSizeFor(40, 40), Local(32).InputSizeFor(24, 40)));
    }

    [Fact]
    public async Task A_backbone_whose_hash_does_not_match_the_pin_is_refused_and_nothing_is_recorded()
    {
        await MakeVerifyStage();
        var p = Local() with { BackboneSha256 = CrossCheckSha256 };
        var error = await Assert.ThrowsAsync<DownloadException>(() => RunStage(p));
        Assert.Contains($"{Zoo}: no mirror gave a good copy", error.Message);
        Assert.Contains($"SHA-256 {FeaturizeParameters.ZooBackboneSha256} does not match the pinned {CrossCheckSha256}", error.Message);
        Assert.Null(store.ReadRecord(FeaturizeStage.Instance.Name));
        Assert.False(Directory.Exists(store.StageDirectory(FeaturizeStage.Instance.Name)));
    }

    [Fact]
    public async Task The_stage_writes_features_per_split_and_only_the_featurize_section_can_rerun_it()
    {
        await MakeVerifyStage();
        await RunStage(Local());
        var set = FeatureSet.Load(store.StageDirectory(FeaturizeStage.Instance.Name));
        Assert.Equal((Zoo, FeaturizeParameters.ZooBackboneSha256, 32, 1280), (set.Manifest.Backbone, set.Manifest.BackboneSha256, set.Manifest.InputSize, set.Manifest.Dim));
        var verified = VerifiedDataset.Load(store.StageDirectory("verify"));
        foreach (var split in VerifiedDataset.SplitOrder)
        {
            Assert.Equal(12, set[split].Count);
            Assert.Equal(12 * 1280, set[split].Features.Length);
            Assert.Equal(verified.LoadSplit(store.StageDirectory("verify"), split).Labels, set[split].Labels);
            Assert.All(set[split].Features, f => Assert.True(f >= 0 && float.IsFinite(f))); // pooled after ReLU6
        }
        Assert.Contains(store.Outputs("featurize")!, o => o.Path == "train-features.f32" && o.Size == 12 * 1280 * 4);

        // The classifier head's knobs, like every section but featurize, are not part of the stage.
        PipelineParameters File(params string[] overrides) => PipelineParameters.Bind(ParameterSet.Parse(System.Text.Json.Nodes.JsonNode.Parse(
            $$"""{ "featurize": { "backbone": "{{Model(Zoo)}}", "input_size": 32 }, "export": { "limit": 0 } }"""), "params.json", overrides));
        var baseline = File();
        StageDefinition Define(PipelineParameters parameters) => FeaturizeStage.Instance.Define(TestStages.Context(store, parameters));
        Assert.True(store.Check(Define(baseline)).UpToDate);
        foreach (var change in new[] { "export.limit=5", "export.one_hot=true", "featurize.batch_size=7", "featurize.threads=1", $"featurize.backbone={FeaturizeParameters.ZooBackbone}" })
        {
            var changed = File(change);
            Assert.NotEqual(CanonicalJson.Serialize(baseline.Sections()), CanonicalJson.Serialize(changed.Sections()));
            Assert.Equal(store.Fingerprint(Define(baseline)).Hash, store.Fingerprint(Define(changed)).Hash);
            Assert.True(store.Check(Define(changed)).UpToDate, change);
        }
        var resized = store.Check(Define(File("featurize.input_size=64")));
        Assert.Equal("parameter featurize.input_size: 32 → 64", resized.Reason);
    }

    [Fact]
    public async Task The_batch_size_does_not_change_the_features()
    {
        await MakeVerifyStage(perSplit: 10);
        string verified = store.StageDirectory("verify");
        using var featurizer = Featurizer.Load(Model(Zoo));
        var dataset = VerifiedDataset.Load(verified);
        foreach (var (batchSize, output) in new[] { (64, temp["one"]), (3, temp["three"]) })
        {
            FeatureExtractor.ExtractRange(dataset, verified, featurizer, 64, batchSize, new ItemRange(0, dataset.Splits.Values.Sum()), output, Logger.None);
            FeatureExtractor.Complete(dataset, verified, Zoo, FeaturizeParameters.ZooBackboneSha256, 64, featurizer.Dim, output);
        }
        var (one, three) = (FeatureSet.Load(temp["one"])["test"].Features, FeatureSet.Load(temp["three"])["test"].Features);
        Assert.Equal(one.Length, three.Length);
        Assert.All(one.Zip(three), pair => Assert.True(Math.Abs(pair.First - pair.Second) <= 1e-5f));
    }

    /// <summary>
    /// A backbone that is not MobileNetV2: a 1×1 conv from 3 to <see cref="TinyChannels"/> channels, ReLU, then (with
    /// <paramref name="pooled"/>) GlobalAveragePool and Flatten, else Flatten alone, into a Gemm of 4 classes.
    /// Weights k·0.1 − 0.3 and so on, so every feature is known.
    /// </summary>
    static byte[] TinyBackbone(bool pooled)
    {
        const int side = 8;
        int flat = pooled ? TinyChannels : TinyChannels * side * side;
        WireMessage[] nodes =
        [
            OnnxProto.Node("Conv", "conv", ["data", "conv.w", "conv.b"], ["conv"]),
            OnnxProto.Node("Relu", "relu", ["conv"], ["relu"]),
            .. pooled ? [OnnxProto.Node("GlobalAveragePool", "pool", ["relu"], ["pooled"])] : Array.Empty<WireMessage>(),
            OnnxProto.Node("Flatten", "flatten", [pooled ? "pooled" : "relu"], ["flat"], OnnxProto.IntAttribute("axis", 1)),
            OnnxProto.Node("Gemm", "fc", ["flat", "fc.w", "fc.b"], ["logits"], OnnxProto.IntAttribute("transB", 1)),
        ];
        WireMessage[] initializers =
        [
            OnnxProto.FloatTensor("conv.w", [TinyChannels, 3, 1, 1], TinyWeights),
            OnnxProto.FloatTensor("conv.b", [TinyChannels], TinyBias),
            OnnxProto.FloatTensor("fc.w", [4, flat], [.. Enumerable.Range(0, 4 * flat).Select(i => (i % 7) * 0.01f)]),
            OnnxProto.FloatTensor("fc.b", [4], [0, 0, 0, 0]),
        ];
        var graph = OnnxProto.Graph("tiny", nodes, initializers,
            [OnnxProto.TensorValueInfo("data", OnnxProto.DataType.Float, [OnnxProto.Dim("N"), OnnxProto.Dim(3), OnnxProto.Dim(side), OnnxProto.Dim(side)])],
            [OnnxProto.TensorValueInfo("logits", OnnxProto.DataType.Float, [OnnxProto.Dim("N"), OnnxProto.Dim(4)])]);
        return OnnxProto.Model(7, 13, "FeaturizeTests", "1", graph, []).ToByteArray();
    }

    const int TinyChannels = 5;
    static readonly float[] TinyWeights = [.. Enumerable.Range(0, TinyChannels * 3).Select(k => k * 0.1f - 0.3f)];
    static readonly float[] TinyBias = [.. Enumerable.Range(0, TinyChannels).Select(c => c * 0.2f - 0.4f)];

    [Fact]
    public async Task Another_backbone_gives_features_as_wide_as_its_pooled_output_and_the_stage_records_it()
    {
        byte[] tiny = TinyBackbone(pooled: true);
        System.IO.File.WriteAllBytes(temp["tiny.onnx"], tiny);
        using var featurizer = Featurizer.Load(temp["tiny.onnx"]);
        Assert.Equal(TinyChannels, featurizer.Dim);

        // Each feature is the mean over the pixels of ReLU(w · rgb + b), computed here from the preprocessed batch.
        const int count = 3, size = 32, pixels = size * size;
        var batch = RandomBatch(count, size);
        var features = new float[count * TinyChannels];
        featurizer.Run(batch, count, size, features);
        for (int i = 0; i < count; i++)
            for (int c = 0; c < TinyChannels; c++)
            {
                double sum = 0;
                for (int p = 0; p < pixels; p++)
                {
                    double value = TinyBias[c];
                    for (int k = 0; k < 3; k++) value += TinyWeights[c * 3 + k] * batch[(i * 3 + k) * pixels + p];
                    sum += Math.Max(0, value);
                }
                Assert.True(Math.Abs(sum / pixels - features[i * TinyChannels + c]) < 1e-4, $"image {i}, feature {c}: {features[i * TinyChannels + c]}, expected {sum / pixels}");
            }

        await MakeVerifyStage();
        var record = await RunStage(new FeaturizeParameters(Backbone: temp["tiny.onnx"], BackboneSha256: ContentHash.OfBytes(tiny), BackboneBytes: tiny.Length, InputSize: 32));
        var set = FeatureSet.Load(store.StageDirectory(FeaturizeStage.Instance.Name));
        Assert.Equal(("tiny.onnx", TinyChannels), (set.Manifest.Backbone, set.Manifest.Dim));
        Assert.Contains(store.Outputs("featurize")!, o => o.Path == "train-features.f32" && o.Size == 12 * TinyChannels * 4);
    }

    [Fact]
    public void A_backbone_without_pooled_features_is_refused_naming_the_file()
    {
        System.IO.File.WriteAllBytes(temp["flat.onnx"], TinyBackbone(pooled: false));
        var error = Assert.Throws<FeaturizeException>(() => Featurizer.Load(temp["flat.onnx"]));
        Assert.Equal("flat.onnx: not a usable backbone: no GlobalAveragePool, QLinearGlobalAveragePool or ReduceMean over H and W, so no pooled features to take",
            error.Message);
    }

    [Fact]
    public void A_truncated_or_corrupt_onnx_file_gives_a_clear_error()
    {
        byte[] zoo = File.ReadAllBytes(Model(Zoo));
        System.IO.File.WriteAllBytes(temp["truncated.onnx"], zoo[..(zoo.Length / 2)]);
        var error = Assert.Throws<FeaturizeException>(() => Featurizer.Load(temp["truncated.onnx"]));
        Assert.StartsWith("truncated.onnx: not a usable backbone: the protobuf is truncated or corrupt", error.Message);

        System.IO.File.WriteAllText(temp["page.onnx"], "<!DOCTYPE html><html><body>Moved</body></html>");
        error = Assert.Throws<FeaturizeException>(() => Featurizer.Load(temp["page.onnx"]));
        Assert.StartsWith("page.onnx: not a usable backbone: ", error.Message);

        // Well-formed protobuf, broken model: an operator ONNX Runtime does not know.
        byte[] broken = Replace(zoo, "QLinearAdd", "QLinearAdX");
        System.IO.File.WriteAllBytes(temp["broken.onnx"], broken);
        error = Assert.Throws<FeaturizeException>(() => Featurizer.Load(temp["broken.onnx"]));
        Assert.StartsWith("broken.onnx: ONNX Runtime cannot load the backbone (", error.Message);
    }

    [Fact]
    public async Task A_truncated_backbone_pinned_as_it_is_fails_the_stage_without_a_record()
    {
        await MakeVerifyStage();
        byte[] zoo = File.ReadAllBytes(Model(Zoo));
        System.IO.File.WriteAllBytes(temp["cut.onnx"], zoo[..100_000]);
        var p = new FeaturizeParameters(Backbone: temp["cut.onnx"], BackboneSha256: ContentHash.OfFile(temp["cut.onnx"]), BackboneBytes: 100_000, InputSize: 32);
        var error = await Assert.ThrowsAsync<FeaturizeException>(() => RunStage(p));
        Assert.StartsWith("cut.onnx: not a usable backbone: the protobuf is truncated or corrupt", error.Message);
        Assert.Null(store.ReadRecord(FeaturizeStage.Instance.Name));
    }

    [Fact]
    public void Parameters_name_what_is_wrong()
    {
        var error = Assert.Throws<ParameterException>(() => PipelineParameters.Bind(ParameterSet.Parse(System.Text.Json.Nodes.JsonNode.Parse("""{ "featurize": {} }"""),
            "params.json", ["featurize.input_size=48", "featurize.backbone_sha256=abc"])));
        Assert.Contains("featurize.input_size must be one of 32, 64, 96, 224, got 48", error.Message);
        Assert.Contains("featurize.backbone_sha256 must be 64 lowercase hex digits, got 'abc'", error.Message);
    }

    static byte[] Replace(byte[] bytes, string find, string replacement)
    {
        byte[] from = Encoding.ASCII.GetBytes(find), to = Encoding.ASCII.GetBytes(replacement);
        int at = bytes.AsSpan().IndexOf(from);
        Assert.True(at >= 0, $"'{find}' not in the model");
        var copy = (byte[])bytes.Clone();
        to.CopyTo(copy, at);
        return copy;
    }
}
