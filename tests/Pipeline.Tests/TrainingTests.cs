using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Training;
using Pipeline.Training.Models;
using Serilog;
using static TorchSharp.torch;

namespace Pipeline.Tests;

[Collection(TorchCollection.Name)]
[Trait("Category", "Integration")]
public class TrainingTests
{
    static readonly ILogger Quiet = new LoggerConfiguration().CreateLogger();
    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>A learnable toy set: class c is a bright 6×6 square at one of ten places, plus noise.</summary>
    static ImageSplit Squares(string name, int count, int seed)
    {
        var random = new Random(seed);
        var images = new byte[count * 784];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int label = labels[i] = (byte)(i % 10);
            for (int p = 0; p < 784; p++) images[i * 784 + p] = (byte)random.Next(0, 60);
            int top = 2 + label / 5 * 12 + random.Next(0, 3), left = 1 + label % 5 * 5 + random.Next(0, 2);
            for (int y = top; y < top + 6; y++)
                for (int x = left; x < Math.Min(left + 6, 28); x++) images[i * 784 + y * 28 + x] = 255;
        }
        return new ImageSplit(name, images, labels, 28, 28);
    }

    static TrainingData Data(int train = 200, int validation = 50) =>
        new(LabelledTensors.From(Squares("train", train, 1)), LabelledTensors.From(Squares("validation", validation, 2)), 10, [1, 28, 28]);

    static TrainParameters Small(int epochs, string model = "reference") =>
        new() { Model = model, Epochs = epochs, BatchSize = 32, LearningRate = 1e-3, LearningRateDecay = 0.8, Seed = 7, MklIntelPath = false };

    [Fact]
    public void One_cycle_climbs_to_the_peak_at_30_percent_of_the_run_and_ends_near_zero()
    {
        var parameters = new TrainParameters { Epochs = 10, LearningRate = 0.01, LearningRateSchedule = "one_cycle" };
        var rates = Enumerable.Range(1, 10).SelectMany(epoch => Enumerable.Range(0, 100).Select(step => parameters.LearningRateAt(epoch, step / 100.0))).ToList();
        Assert.Equal(0.01 / 25, rates[0], 12);
        Assert.Equal(0.01, rates.Max(), 12);
        Assert.Equal(300, rates.IndexOf(rates.Max())); // epoch 4's first batch
        Assert.True(rates.Take(300).Zip(rates.Skip(1)).All(p => p.Second > p.First), "rises until the peak");
        Assert.True(rates.Skip(300).Zip(rates.Skip(301)).All(p => p.Second < p.First), "falls after it");
        Assert.InRange(parameters.LearningRateAt(10, 1.0), 0.01 / 250000 * 0.999, 0.01 / 250000 * 1.001);

        // The exponential schedule is per epoch: the same within an epoch, whatever the total.
        var exponential = new TrainParameters { Epochs = 3, LearningRate = 0.01, LearningRateDecay = 0.5 };
        Assert.Equal(0.0025, exponential.LearningRateAt(3, 0.7), 12);
        Assert.Equal(exponential.LearningRateAt(3), (exponential with { Epochs = 30 }).LearningRateAt(3));
    }

    [Fact]
    public void The_reference_model_has_the_Keras_shapes_and_2770634_parameters()
    {
        using var model = ModelCatalog.Create("reference", 10, [1, 28, 28]);
        var summary = ModelSummary.Describe("reference", model, [1, 28, 28]);
        Assert.Equal(2_770_634, summary.TotalParameters);
        Assert.Equal([32L, 26, 26], summary.Layers[0].OutputShape);
        Assert.Equal([21_632L], summary.Layers.Single(l => l.Name == "flatten").OutputShape);
        Assert.Equal([10L], summary.Layers[^1].OutputShape);
        Assert.Contains("Total params: 2,770,634", summary.ToTable());
    }

    [Fact]
    public void The_fused_Adam_step_makes_Adams_update()
    {
        // Two copies of one model, one stepped by TorchSharp's Adam and one by the fused step, on the same gradients.
        // The dense weight (2.8 M) is updated in parallel chunks, the others on one thread.
        Tensor[] Train(Func<IEnumerable<TorchSharp.Modules.Parameter>, TorchSharp.Modules.Adam> optimizer)
        {
            random.manual_seed(3);
            using var model = ModelCatalog.Create("reference", 10, [1, 28, 28]);
            using var adam = optimizer(model.parameters());
            using var data = LabelledTensors.From(Squares("train", 64, 5));
            for (int step = 0; step < 5; step++)
            {
                using var scope = NewDisposeScope();
                adam.zero_grad();
                TorchSharp.torch.nn.functional.cross_entropy(model.call(data.Images), data.Labels).backward();
                adam.step();
            }
            return [.. model.parameters().Select(p => p.detach().clone())];
        }
        var reference = Train(p => optim.Adam(p, lr: 1e-3));
        var fused = Train(p => new FusedAdam(p, 1e-3));
        var untrained = Train(p => new FusedAdam(p, 0));
        Assert.Equal(reference.Length, fused.Length);
        for (int i = 0; i < fused.Length; i++)
        {
            Assert.True(fused[i].allclose(reference[i], rtol: 1e-4, atol: 1e-6), $"parameter {i} differs from Adam's");
            Assert.False(fused[i].eq(untrained[i]).all().item<bool>(), $"parameter {i} did not move");
        }
    }

    [Fact]
    public void The_compact_model_maps_images_to_ten_logits()
    {
        using var model = ModelCatalog.Create("compact", 10, [1, 28, 28]);
        using var output = model.call(zeros(3, 1, 28, 28));
        Assert.Equal([3L, 10], output.shape);
        Assert.Equal(ModelCatalog.ParameterCount(model), ModelSummary.Describe("compact", model, [1, 28, 28]).TotalParameters);
    }

    [Fact]
    public void The_models_take_their_channels_and_size_from_the_data()
    {
        // Reference on RGB 32×40: Conv2d(3, 32, 3) → 32×30×38 = 36,480 → Dense(128) → Dense(10).
        using var reference = ModelCatalog.Create("reference", 10, [3, 32, 40]);
        var summary = ModelSummary.Describe("reference", reference, [3, 32, 40]);
        Assert.Equal([32L, 30, 38], summary.Layers[0].OutputShape);
        Assert.Equal([36_480L], summary.Layers.Single(l => l.Name == "flatten").OutputShape);
        Assert.Equal(3 * 9 * 32 + 32 + 36_480 * 128 + 128 + 128 * 10 + 10, summary.TotalParameters);

        // A model with 5 classes on RGB images: the flattened size, the first layer's weights, the logits.
        void Sized(string name, long[] shape, long flattened, long firstLayerParameters)
        {
            using var model = ModelCatalog.Create(name, 5, shape);
            var layers = ModelSummary.Describe(name, model, shape).Layers;
            Assert.Equal([flattened], layers.Single(l => l.Name == "flatten").OutputShape);
            Assert.Equal(firstLayerParameters, layers[0].Parameters);
            using var output = model.call(zeros([2, .. shape]));
            Assert.Equal([2L, 5], output.shape);
        }
        Sized("compact", [3, 32, 40], 64L * 8 * 10, 3 * 9 * 32);   // two 2×2 pools take 32×40 to 8×10
        Sized("strided", [3, 30, 37], 128L * 8 * 10, 3 * 25 * 32); // two stride-2 convs: 30×37 → 15×19 → 8×10 (odd sides round up)
        using var stridedMnist = ModelCatalog.Create("strided", 10, [1, 28, 28]);
        Assert.Equal(874_570, ModelCatalog.ParameterCount(stridedMnist)); // docs/training.md's figure

        var error = Assert.Throws<ArgumentException>(() => ModelCatalog.Create("reference", 10, [784]));
        Assert.StartsWith("model 'reference' takes images (C, H, W), not examples of shape (784)", error.Message);
    }

    [Fact]
    public void Colour_splits_become_N_C_H_W_tensors_and_splits_of_other_shapes_are_refused()
    {
        var colour = ColourData.Split("train", 4);
        using var tensors = LabelledTensors.From(colour);
        Assert.Equal([4L, 3, 32, 32], tensors.Images.shape);
        Assert.Equal(colour.Image(3)[1024 + 5] / 255f, tensors.Images[3, 1, 0, 5].item<float>()); // channel 1, row 0, column 5
        var error = Assert.Throws<DatasetException>(() => LabelledTensors.From(colour, Squares("augmented", 2, 1)));
        Assert.Equal("splits train (3×32×32), augmented (1×28×28) differ in image shape", error.Message);
    }

    [Fact]
    public void Bad_training_parameters_are_refused_naming_the_key_and_the_choices()
    {
        var problems = new TrainParameters { Model = "resnet", Epochs = 0, LearningRateSchedule = "cosine", LabelSmoothing = 1 }.Validate().ToList();
        Assert.Contains(problems, p => p.Contains("unknown model 'resnet'") && p.Contains("reference") && p.Contains("compact") && p.Contains("strided"));
        Assert.Contains(problems, p => p.Contains("epochs must be ≥ 1"));
        Assert.Contains("learning_rate_schedule: unknown schedule 'cosine' (schedules: exponential, one_cycle)", problems);
        Assert.Contains("label_smoothing must be ≥ 0 and < 1, got 1", problems);
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("compact")]
    [InlineData("strided")]
    public void A_few_epochs_on_a_small_set_reduce_the_loss(string model)
    {
        var data = Data();
        using var trainer = new Trainer(Small(3, model), 10, [1, 28, 28]);
        double before = trainer.Evaluate(data.Validation).Loss;
        EpochRecord last = null!;
        for (int epoch = 1; epoch <= 3; epoch++) last = trainer.TrainEpoch(epoch, data.Train, data.Validation);
        // Batch-norm's running statistics lag after so few steps, so validation is checked loosely, training tightly.
        Assert.True(last.ValLoss < before * 0.75, $"validation loss {before} → {last.ValLoss}");
        Assert.True(last.Accuracy > 0.8, $"training accuracy {last.Accuracy}");
    }

    [Fact]
    public void Epoch_images_trains_an_epoch_on_that_many_images_and_on_the_whole_split_when_it_holds_fewer()
    {
        var data = Data();
        long seen = 0;
        using (var capped = new Trainer(Small(1) with { EpochImages = 100 }, 10, [1, 28, 28]))
            capped.TrainEpoch(1, data.Train, data.Validation, size => seen += size);
        Assert.Equal(100, seen);
        using var whole = new Trainer(Small(1), 10, [1, 28, 28]);
        var wholeEpoch = whole.TrainEpoch(1, data.Train, data.Validation);
        using var larger = new Trainer(Small(1) with { EpochImages = data.Train.Count + 1 }, 10, [1, 28, 28]);
        Assert.Equal(wholeEpoch, larger.TrainEpoch(1, data.Train, data.Validation));
        Assert.Contains("epoch_images must be ≥ 0 (0 = the whole split), got -1", (Small(1) with { EpochImages = -1 }).Validate());
    }

    [Fact]
    public void Label_smoothing_keeps_the_model_from_becoming_certain()
    {
        // With smoothing ε over 10 classes the loss is least where the true class gets 1 − ε + ε/10, so a model that
        // learned the set answers with about that probability instead of nearly 1.
        double MeanTopProbability(double smoothing)
        {
            var data = Data();
            using var trainer = new Trainer(Small(8) with { LabelSmoothing = smoothing }, 10, [1, 28, 28]);
            EpochRecord last = null!;
            for (int epoch = 1; epoch <= 8; epoch++) last = trainer.TrainEpoch(epoch, data.Train, data.Validation);
            Assert.True(last.ValAccuracy > 0.9, $"validation accuracy {last.ValAccuracy} with smoothing {smoothing}");
            using var logits = Predictor.LogitsAndLabels(trainer.Model, data.Validation).Logits;
            return logits.softmax(1).amax(1).mean().item<float>();
        }
        double plain = MeanTopProbability(0), smoothed = MeanTopProbability(0.5);
        Assert.True(plain > 0.9, $"without smoothing: mean top probability {plain}");
        Assert.InRange(smoothed, 0.35, 0.7);
    }

    [Fact]
    public void Saved_weights_load_into_a_model_that_gives_identical_outputs()
    {
        using var folder = new TempFolder();
        var data = Data();
        using var trainer = new Trainer(Small(1), 10, [1, 28, 28]);
        trainer.TrainEpoch(1, data.Train, data.Validation);
        trainer.Save(folder["w.pt"]);
        new TrainedModel("reference", Digits, [1, 28, 28], 0).Save(folder.Path);
        File.Copy(folder["w.pt"], folder[CheckpointedTraining.WeightsFile]);

        using var loaded = TrainedModel.Load(folder.Path).Open(folder.Path);
        using var expected = Predictor.LogitsAndLabels(trainer.Model, data.Validation).Logits;
        using var actual = Predictor.LogitsAndLabels(loaded, data.Validation).Logits;
        Assert.True(expected.eq(actual).all().item<bool>());
    }

    [Fact]
    public void The_same_seed_gives_bit_identical_weights_and_history()
    {
        using var a = new TempFolder();
        using var b = new TempFolder();
        var data = Data();
        var first = CheckpointedTraining.Run(Small(2, "compact"), data, new TrainingRun(a.Path, "key", []), Quiet);
        var second = CheckpointedTraining.Run(Small(2, "compact"), data, new TrainingRun(b.Path, "key", []), Quiet);
        Assert.Equal(File.ReadAllBytes(a[CheckpointedTraining.WeightsFile]), File.ReadAllBytes(b[CheckpointedTraining.WeightsFile]));
        Assert.Equal(File.ReadAllText(a[CheckpointedTraining.HistoryFile]), File.ReadAllText(b[CheckpointedTraining.HistoryFile]));
        Assert.Equal(first.History, second.History);
    }

    [Fact]
    public void Raising_the_epochs_resumes_and_equals_a_straight_run()
    {
        using var straight = new TempFolder();
        using var twoEpochs = new TempFolder();
        using var resumed = new TempFolder();
        var data = Data();
        CheckpointedTraining.Run(Small(3, "compact"), data, new TrainingRun(straight.Path, "key", []), Quiet);
        CheckpointedTraining.Run(Small(2, "compact"), data, new TrainingRun(twoEpochs.Path, "key", []), Quiet);

        var result = CheckpointedTraining.Run(Small(3, "compact"), data, new TrainingRun(resumed.Path, "key", [new EarlierOutput(twoEpochs.Path, null)]), Quiet);

        Assert.Equal(2, result.ResumedFrom);
        Assert.Single(result.Timings);
        Assert.Equal(File.ReadAllBytes(straight[CheckpointedTraining.WeightsFile]), File.ReadAllBytes(resumed[CheckpointedTraining.WeightsFile]));
        Assert.Equal(File.ReadAllText(straight[CheckpointedTraining.HistoryFile]), File.ReadAllText(resumed[CheckpointedTraining.HistoryFile]));
    }

    [Fact]
    public void Checkpoints_made_with_other_settings_are_not_resumed_and_fewer_epochs_need_no_training()
    {
        using var three = new TempFolder();
        using var other = new TempFolder();
        using var one = new TempFolder();
        var data = Data();
        CheckpointedTraining.Run(Small(3), data, new TrainingRun(three.Path, "key", []), Quiet);

        Assert.Equal(0, CheckpointedTraining.Run(Small(3), data, new TrainingRun(other.Path, "other key", [new EarlierOutput(three.Path, null)]), Quiet).ResumedFrom);
        var shorter = CheckpointedTraining.Run(Small(1), data, new TrainingRun(one.Path, "key", [new EarlierOutput(three.Path, null)]), Quiet);
        Assert.Equal(1, shorter.ResumedFrom);
        Assert.Empty(shorter.Timings);
        Assert.Equal(File.ReadAllBytes(Path.Combine(three.Path, "checkpoints", "epoch-001", CheckpointedTraining.WeightsFile)), File.ReadAllBytes(one[CheckpointedTraining.WeightsFile]));
    }

    [Fact]
    public void Metrics_match_a_hand_computed_confusion_matrix()
    {
        // Three classes, five images: labels 0 0 1 2 2; predictions 0 1 1 2 0.
        byte[] labels = [0, 0, 1, 2, 2];
        float[] probabilities =
        [
            0.7f, 0.2f, 0.1f,
            0.3f, 0.6f, 0.1f,
            0.1f, 0.8f, 0.1f,
            0.1f, 0.1f, 0.8f,
            0.5f, 0.1f, 0.4f,
        ];
        var m = ClassificationMetrics.Compute(labels, probabilities, ["a", "b", "c"]);
        Assert.Equal(new[,] { { 1, 1, 0 }, { 0, 1, 0 }, { 1, 0, 1 } }, m.Confusion);
        Assert.Equal(0.6, m.Accuracy, 12);
        Assert.Equal(0.5, m.Classes[0].Precision, 12); // predicted a twice, right once
        Assert.Equal(0.5, m.Classes[0].Recall, 12);
        Assert.Equal(0.5, m.Classes[1].Precision, 12);
        Assert.Equal(1.0, m.Classes[1].Recall, 12);
        Assert.Equal(2 * 0.5 / 1.5, m.Classes[1].F1, 12);
        Assert.Equal(1.0, m.Classes[2].Precision, 12);
        Assert.Equal(0.5, m.Classes[2].Recall, 12);
        // Binary accuracy: outputs ≥ 0.5 against one-hot, 15 outputs: rows score 3, 1, 3, 3, 1 → 11/15.
        Assert.Equal(11.0 / 15, m.BinaryAccuracy, 12);
        double loss = -(Math.Log(0.7) + Math.Log(0.3) + Math.Log(0.8) + Math.Log(0.8) + Math.Log(0.4)) / 5;
        Assert.Equal(loss, m.Loss, 6);
    }

    [Fact]
    public void The_gate_fails_below_its_threshold_and_passes_at_or_above_it()
    {
        var metrics = new MetricsFile("reference", "test", 100, 0.98, 0.99, 0.1, 0.98, [], []);
        var error = Assert.Throws<GateException>(() => AccuracyGate.Check(metrics, 0.985, "metrics.json"));
        Assert.Contains("98.00%", error.Message);
        Assert.Contains("evaluate.min_accuracy 98.50%", error.Message);
        Assert.NotNull(AccuracyGate.Check(metrics, 0.98, "metrics.json"));
        Assert.Null(AccuracyGate.Check(metrics, 0, "metrics.json"));
    }
}
