using System.Text.Json.Nodes;
using Build.Host;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>The glue between parameters, code and the real stage declarations: what reruns when something changes.</summary>
[Trait("Category", "Unit")]
public class StageDeclarationTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static readonly IReadOnlyList<Stage> Stages = TaskCatalog.Discover(typeof(PipelineHost).Assembly).Stages.ToList();

    /// <summary>
    /// Every key of every parameter section: a new value for it, and the stages that change their fingerprint or whether
    /// they are needed. Downstream stages then rerun only if the outputs of these change. A key missing here fails the test.
    /// </summary>
    static readonly Dictionary<string, (string Value, string[] Reruns)> ParameterEffects = new()
    {
        ["download.dataset"] = ("OTHER_DEFINITION", ["download"]),
        ["download.retries"] = ("1", []),
        ["download.connect_timeout_seconds"] = ("5", []),
        ["download.read_timeout_seconds"] = ("5", []),
        ["verify.validation"] = ("100", ["verify"]),
        ["verify.skip_unreadable"] = ("true", ["verify"]),
        ["verify.max_image_pixels"] = ("1000", ["verify"]),
        ["export.splits"] = ("[\"test\"]", ["export"]),
        ["export.limit"] = ("10", ["export"]),
        ["export.one_hot"] = ("true", ["export"]),
        ["export.sheet_images"] = ("10", ["export"]),
        ["augment.seed"] = ("7", ["augment"]),
        ["augment.samples"] = ("100", ["augment"]),
        ["augment.source"] = ("validation", ["augment"]),
        ["augment.join_training"] = ("false", ["train"]),
        ["augment.png"] = ("true", ["augment"]),
        ["augment.preview_images"] = ("4", ["augment"]),
        ["augment.threads"] = ("1", []),
        ["augment.background"] = ("9", ["augment"]),
        ["augment.operations"] = ("[{\"op\":\"flip_left_right\",\"probability\":0.5}]", ["augment"]),
        ["featurize.backbone"] = ("https://example.org/elsewhere/mobilenetv2-12-int8.onnx", []),
        ["featurize.backbone_sha256"] = (new string('0', 64), ["featurize"]),
        ["featurize.backbone_bytes"] = ("5", ["featurize"]),
        ["featurize.input_size"] = ("96", ["featurize"]),
        ["featurize.batch_size"] = ("32", []),
        ["featurize.threads"] = ("1", []),
        ["train.model"] = ("compact", ["train"]),
        ["train.epochs"] = ("6", ["train"]),
        ["train.batch_size"] = ("256", ["train"]),
        ["train.epoch_images"] = ("1000", ["train"]),
        ["train.learning_rate"] = ("0.002", ["train"]),
        ["train.learning_rate_schedule"] = ("one_cycle", ["train"]),
        ["train.learning_rate_decay"] = ("0.5", ["train"]),
        ["train.label_smoothing"] = ("0.1", ["train"]),
        ["train.seed"] = ("2", ["train"]),
        ["train.threads"] = ("1", ["train", "transfer", "evaluate"]),
        ["train.mkl_intel_path"] = ("false", ["train", "transfer", "evaluate"]),
        ["transfer.enabled"] = ("false", ["transfer", "evaluate", "predict"]),
        ["transfer.head"] = ("mlp", ["transfer"]),
        ["transfer.epochs"] = ("3", ["transfer"]),
        ["transfer.batch_size"] = ("64", ["transfer"]),
        ["transfer.learning_rate"] = ("0.01", ["transfer"]),
        ["transfer.learning_rate_decay"] = ("0.5", ["transfer"]),
        ["transfer.seed"] = ("2", ["transfer"]),
        ["evaluate.min_accuracy"] = ("0.9", []),
        ["evaluate.gallery_images"] = ("10", ["evaluate"]),
        ["cache.max_size_mb"] = ("10", []),
        ["predict.images"] = ("[\"docs\"]", ["predict"]),
        ["predict.top"] = ("5", ["predict"]),
        ["predict.model"] = ("ONNX_FILE", ["predict"]),
        ["predict.framing"] = ("none", ["predict"]),
        ["predict.unlike_threshold"] = ("5", ["predict"]),
        ["slurm.partition"] = ("gpu", []),
        ["slurm.time_limit"] = ("1:00:00", []),
        ["slurm.cpus_per_task"] = ("2", []),
        ["slurm.max_running"] = ("4", []),
        ["slurm.extra_args"] = ("[\"--mem=4G\"]", []),
        ["slurm.poll_seconds"] = ("0.5", []),
    };

    /// <summary>What a stage's fingerprint is made of for a run (inputs by name: their contents are the engine's).</summary>
    static string Shape(Stage stage, StageContext context)
    {
        var definition = stage.Define(context);
        return CanonicalJson.Serialize(new { definition.Parameters, Inputs = definition.Upstream.ToList(), NotNeeded = stage.NotNeeded(context) });
    }

    string Assignment(string key, string value)
    {
        if (value == "ONNX_FILE")
        {
            File.WriteAllText(temp["model.onnx"], "bytes are pinned, not read");
            return $"{key}={temp["model.onnx"]}";
        }
        if (value != "OTHER_DEFINITION") return $"{key}={value}";
        var definition = JsonNode.Parse(File.ReadAllText(Path.Combine(TestHost.Root, "datasets", "mnist.json")))!;
        definition["name"] = "mnist-copy";
        File.WriteAllText(temp["mnist-copy.json"], definition.ToJsonString());
        return $"{key}={temp["mnist-copy.json"]}";
    }

    [Fact]
    public void Every_parameter_key_reruns_exactly_the_stages_it_shapes()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        var baseline = TestStages.Context(store, TestStages.Parameters());
        var keys = TestStages.Parameters().Sections().SelectMany(s => ((JsonObject)CanonicalJson.ToNode(s.Value)!).Select(p => $"{s.Key}.{p.Key}")).Order();
        Assert.Equal(keys, ParameterEffects.Keys.Order());

        foreach (var (key, (value, expected)) in ParameterEffects)
        {
            var changed = TestStages.Context(store, TestStages.Parameters(Assignment(key, value)));
            var reruns = Stages.Where(s => Shape(s, baseline) != Shape(s, changed)).Select(s => s.Name).ToList();
            Assert.True(expected.SequenceEqual(reruns), $"{key}={value}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", reruns)}]");
        }
    }

    [Fact]
    public void More_epochs_resume_under_the_exponential_schedule_and_retrain_under_one_cycle()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        string? ResumeKey(params string[] overrides) =>
            Pipeline.Training.TrainStage.Instance.Define(TestStages.Context(store, TestStages.Parameters(overrides))).ResumeParameters?.ToJsonString();
        Assert.NotNull(ResumeKey("train.epochs=5"));
        Assert.Equal(ResumeKey("train.epochs=5"), ResumeKey("train.epochs=9"));
        Assert.NotEqual(ResumeKey("train.epochs=5"), ResumeKey("train.epochs=5", "train.learning_rate=0.002"));
        // one_cycle spreads its schedule over all the epochs: epoch 1 of a 9-epoch run is not epoch 1 of a 5-epoch run,
        // so only a killed run of the same length is continued.
        Assert.NotNull(ResumeKey("train.epochs=5", "train.learning_rate_schedule=one_cycle"));
        Assert.NotEqual(ResumeKey("train.epochs=5", "train.learning_rate_schedule=one_cycle"),
            ResumeKey("train.epochs=9", "train.learning_rate_schedule=one_cycle"));
    }

    /// <summary>The files a stage's code reaches, as the build derived them (tools/CodeDeps), with their hashes.</summary>
    internal static IReadOnlyDictionary<string, string> CodeOf(Stage stage) => CodeManifest.For(stage.GetType().Assembly).Reached(stage.GetType());

    /// <summary>A file of each part of the library, and the stages whose derived code holds it.</summary>
    [Theory]
    [InlineData("src/Pipeline.Training/Training/Trainer.cs", "train transfer evaluate")] // Predictor.Logits scores Evaluate's test split
    [InlineData("src/Pipeline/Augmentation/Augmenter.cs", "augment")]
    [InlineData("src/Pipeline/Acquisition/Downloader.cs", "download featurize")] // Featurize fetches its backbone
    [InlineData("src/Pipeline/Acquisition/Idx.cs", "verify")]
    [InlineData("src/Pipeline/Imaging/Png.cs", "augment export")]
    [InlineData("src/Pipeline/Imaging/Framing.cs", "verify train transfer predict")] // the statistics name Framing, which declares constants: over-approximate
    [InlineData("src/Pipeline/Imaging/FramingStatistics.cs", "verify train transfer predict")]
    [InlineData("src/Pipeline/Evaluation/Charts.cs", "evaluate")]
    [InlineData("src/Pipeline.Features/ImagePreprocessor.cs", "featurize transfer")]
    [InlineData("src/Pipeline.Training/Training/TrainingStage.cs", "train transfer predict")] // Predict names its OnnxFile constant
    [InlineData("src/Pipeline/Imaging/TextArt.cs", "")]
    [InlineData("src/Pipeline/Stages/ArtifactStore.cs", "")]
    [InlineData("src/Pipeline/Progress.cs", "")]
    public void Editing_a_file_reruns_the_stages_whose_code_reaches_it(string file, string stages)
    {
        var owners = Stages.Where(s => CodeOf(s).ContainsKey(file)).Select(s => s.Name);
        Assert.Equal(stages.Split(' ', StringSplitOptions.RemoveEmptyEntries), owners);
    }

    [Fact]
    public void A_constant_counts_where_it_is_used()
    {
        // const strings are copied into the IL that uses them; the files that name ClassifierOnnx count it.
        Assert.Contains("src/Pipeline/Onnx/ClassifierOnnx.cs", CodeOf(Pipeline.Prediction.PredictStage.Instance).Keys);
        Assert.Contains("src/Pipeline/Onnx/ClassifierOnnx.cs", CodeOf(Pipeline.Training.TrainStage.Instance).Keys);
    }

    /// <summary>
    /// Code that shapes no output, so the derivation does not follow it (StageCodeOpaque in Directory.Build.targets):
    /// the engine, parameter binding and records (a parameter's value is in the fingerprint itself), logging and process
    /// set-up. Code only the host calls: experiments (they read records), the text art Show prints.
    /// </summary>
    static readonly string[] NotStageCode =
        ["src/Pipeline/Stages/", "src/Pipeline/Parameters/", "src/Pipeline/Runtime/", "src/Pipeline/Progress.cs",
         "src/Pipeline/Experiments/", "src/Pipeline/Imaging/TextArt.cs"];

    [Fact]
    public void Every_library_file_is_reached_by_some_stage_or_known_to_shape_no_output()
    {
        var manifest = CodeManifest.For(typeof(Pipeline.Evaluation.EvaluateStage).Assembly);
        Assert.Contains("src/Pipeline/Augmentation/GeometryOperations.cs", manifest.Files.Keys); // the manifest is embedded
        var reached = Stages.SelectMany(s => CodeOf(s).Keys).ToHashSet();
        var orphans = manifest.Files.Keys.Where(f => !reached.Contains(f) && !NotStageCode.Any(f.StartsWith)).ToList();
        Assert.True(orphans.Count == 0, "no stage's code reaches these files: " + string.Join(", ", orphans));
        // ... and the list names no file a stage reaches (but CanonicalJson and ContentHash, which write output bytes).
        var listed = reached.Where(f => NotStageCode.Any(f.StartsWith)).Order().ToList();
        Assert.Equal(["src/Pipeline/Stages/CanonicalJson.cs", "src/Pipeline/Stages/ContentHash.cs"], listed);
    }

    [Fact]
    public void Every_stage_reads_only_declared_upstreams_and_the_graph_has_one_task_per_stage()
    {
        var context = TestStages.Context(new ArtifactStore(temp["artifacts"]), TestStages.Parameters());
        foreach (var stage in Stages)
            Assert.All(stage.Reads(context), read => Assert.Contains(read, stage.Upstream));
        Assert.Equal(["download", "verify", "augment", "train", "featurize", "transfer", "evaluate", "export", "predict"], Stages.Select(s => s.Name));
    }

    [Fact]
    public async Task The_fingerprint_of_a_known_stage_is_pinned()
    {
        // Canonical JSON and hashing are part of every record: changing them reruns every stage, so it must be deliberate.
        // The values are SHA-256 of the compact, key-sorted JSON, as Python's json.dumps(sort_keys=True, separators=(",", ":")) writes it.
        var store = new ArtifactStore(temp["artifacts"]);
        var definition = new StageDefinition("pinned", JsonNode.Parse("""{"b.key": [1, 2.5, "x"], "a.key": true}"""),
            new SortedDictionary<string, string> { ["src/A.cs"] = ContentHash.OfText("code") }, [new UpstreamInput("input")]);
        // The upstream's output hash given as a dry run gives it: the SHA-256 of "pinned\n".
        var upstream = new Dictionary<string, string> { ["input"] = ContentHash.OfText("pinned\n") };
        Assert.Equal("6d9286340df56e6a3ad1327946cea3523fd2df385f17d1a709a30d9dd7e031af", store.Fingerprint(definition, upstream).Hash);
        await store.RunAsync(new StageDefinition("input", new { }), (w, _) => File.WriteAllTextAsync(w.PathOf("in.txt"), "in\n"));
        var record = await store.RunAsync(definition, (w, _) => File.WriteAllTextAsync(w.PathOf("out.txt"), "out\n"));
        Assert.Equal("3283e294b1fc517ef296cd9ae25d2f646c4ede808e3b684813807237bc2e7182", record.OutputHash);
    }
}
