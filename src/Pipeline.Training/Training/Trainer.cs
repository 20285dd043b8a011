using Pipeline.Training.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pipeline.Training;

/// <summary>One epoch's figures, as Keras prints them. Deterministic for a given seed (no timings in here).</summary>
public sealed record EpochRecord(int Epoch, double LearningRate, double Loss, double Accuracy, double ValLoss, double ValAccuracy);

/// <summary>Loss and categorical accuracy of a model over a labelled set.</summary>
public sealed record LossAndAccuracy(double Loss, double Accuracy);

/// <summary>
/// A model and its Adam optimizer, trained one epoch at a time. Every source of randomness in epoch k (the shuffle,
/// dropout) is seeded from (seed, k) alone, so training epochs 1..k then k+1..n equals training 1..n in one go.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly TrainParameters parameters;
    readonly Adam optimizer;

    public Sequential Model { get; }

    public Trainer(TrainParameters parameters, int classes, long[] inputShape)
    {
        this.parameters = parameters;
        random.manual_seed(parameters.Seed);
        Model = ModelCatalog.Create(parameters.Model, classes, inputShape);
        optimizer = new FusedAdam(Model.parameters(), parameters.LearningRate);
    }

    /// <summary>How long the last <see cref="TrainEpoch"/> waited for its loader (the rest of the epoch computed).</summary>
    public TimeSpan LoaderWait { get; private set; }

    public EpochRecord TrainEpoch(int epoch, ExampleSource train, ExampleSource validation, Action<int>? onBatch = null,
        CancellationToken cancellation = default)
    {
        double learningRate = parameters.LearningRateAt(epoch);
        random.manual_seed(EpochSeed(parameters.Seed, epoch, stream: 1)); // dropout
        long[] order;
        using (var generator = new Generator((ulong)EpochSeed(parameters.Seed, epoch, stream: 2)))
        using (var permutation = randperm(train.Count, generator: generator))
            order = permutation.data<long>().ToArray();
        long images = parameters.ImagesPerEpoch(train.Count);
        if (images < order.Length) order = order[..(int)images];

        Model.train();
        double lossSum = 0;
        long correct = 0;
        using var loader = new BatchLoader(train, parameters.BatchSize, order);
        foreach (var batch in loader.Read())
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int size = batch.Count;
            foreach (var group in optimizer.ParamGroups) group.LearningRate = parameters.LearningRateAt(epoch, (double)batch.Start / images);
            var labels = batch.Labels();
            var logits = Model.call(batch.Inputs());
            var loss = cross_entropy(logits, labels, label_smoothing: parameters.LabelSmoothing);
            Model.zero_grad(set_to_none: true);
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * (double)size;
            correct += logits.argmax(1).eq(labels).sum().item<long>();
            onBatch?.Invoke(size);
        }
        LoaderWait = loader.Waited;
        var checkedOn = Evaluate(validation);
        return new EpochRecord(epoch, learningRate, lossSum / images, (double)correct / images, checkedOn.Loss, checkedOn.Accuracy);
    }

    /// <summary>Loss and accuracy over <paramref name="data"/>, read by batch; only the logits (one row an example) are kept.</summary>
    public LossAndAccuracy Evaluate(ExampleSource data)
    {
        var (logits, labels) = Predictor.LogitsAndLabels(Model, data);
        using var _ = logits;
        using var __ = labels;
        using var scope = NewDisposeScope();
        double loss = cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>() / data.Count;
        double accuracy = (double)logits.argmax(1).eq(labels).sum().item<long>() / data.Count;
        return new LossAndAccuracy(loss, accuracy);
    }

    public void Save(string weightsPath, string? optimizerPath = null)
    {
        Model.save(weightsPath);
        if (optimizerPath is not null) optimizer.save_state_dict(optimizerPath);
    }

    public void Load(string weightsPath, string? optimizerPath = null)
    {
        Model.load(weightsPath);
        if (optimizerPath is not null) optimizer.load_state_dict(optimizerPath);
    }

    /// <summary>A seed for one epoch's stream of randomness, mixed so nearby seeds are unrelated.</summary>
    static long EpochSeed(long seed, int epoch, int stream) =>
        (long)(Rng.Mix((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)epoch * 0xBF58476D1CE4E5B9UL + (ulong)stream * 0x94D049BB133111EBUL) >> 1);

    public void Dispose()
    {
        optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>Inference in batches, in eval mode and without gradients.</summary>
public static class Predictor
{
    /// <summary>
    /// The most input bytes (float32) one inference batch holds: at most 500 examples, fewer for large images, whose
    /// activations would otherwise take gigabytes (500 images of 3×384×384 are 885 MB of input alone). MNIST-sized
    /// inputs keep batches of 500.
    /// </summary>
    public const long InferenceBatchBytes = 16L << 20;

    /// <summary>The examples one inference batch holds for examples of <paramref name="exampleLength"/> values.</summary>
    public static int InferenceBatch(long exampleLength) => (int)Math.Clamp(InferenceBatchBytes / (Math.Max(1, exampleLength) * sizeof(float)), 1, 500);

    public static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor images, int batchSize = 500)
    {
        bool training = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            var parts = new List<Tensor>();
            for (long start = 0; start < images.shape[0]; start += batchSize)
                parts.Add(model.call(images.narrow(0, start, Math.Min(batchSize, images.shape[0] - start))));
            var all = cat(parts, 0);
            foreach (var part in parts) part.Dispose();
            return all;
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>Batch by batch through a loader (batches of <see cref="InferenceBatch"/>, 500 for MNIST as in
    /// <see cref="Logits(nn.Module{Tensor, Tensor}, Tensor, int)"/>): <paramref name="onBatch"/> gets each batch's logits
    /// (disposed after the call) and its first index.</summary>
    public static void Score(nn.Module<Tensor, Tensor> model, ExampleSource data, Action<Tensor, BatchLoader.Batch> onBatch, int? batchSize = null)
    {
        bool training = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var loader = new BatchLoader(data, batchSize ?? InferenceBatch(data.ExampleLength));
            foreach (var batch in loader.Read())
            {
                using var scope = NewDisposeScope();
                onBatch(model.call(batch.Inputs()), batch);
            }
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>The logits of every example (<c>Count × classes</c>) and their labels, computed by batch.</summary>
    public static (Tensor Logits, Tensor Labels) LogitsAndLabels(nn.Module<Tensor, Tensor> model, ExampleSource data, int? batchSize = null)
    {
        var logits = new List<Tensor>();
        var labels = new List<Tensor>();
        Score(model, data, (batchLogits, batch) =>
        {
            logits.Add(batchLogits.DetachFromDisposeScope());
            labels.Add(batch.Labels().clone().DetachFromDisposeScope());
        }, batchSize);
        try
        {
            return (cat(logits, 0), cat(labels, 0));
        }
        finally
        {
            foreach (var t in logits.Concat(labels)) t.Dispose();
        }
    }
}
