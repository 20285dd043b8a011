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

    public EpochRecord TrainEpoch(int epoch, LabelledTensors train, LabelledTensors validation, Action<int>? onBatch = null,
        CancellationToken cancellation = default)
    {
        double learningRate = parameters.LearningRateAt(epoch);
        random.manual_seed(EpochSeed(parameters.Seed, epoch, stream: 1)); // dropout
        using var generator = new Generator((ulong)EpochSeed(parameters.Seed, epoch, stream: 2));
        using var order = randperm(train.Count, generator: generator);

        Model.train();
        double lossSum = 0;
        long correct = 0;
        for (int start = 0; start < train.Count; start += parameters.BatchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int size = Math.Min(parameters.BatchSize, train.Count - start);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = parameters.LearningRateAt(epoch, (double)start / train.Count);
            var batch = order.narrow(0, start, size);
            var labels = train.Labels.index_select(0, batch);
            var logits = Model.call(train.Images.index_select(0, batch));
            var loss = cross_entropy(logits, labels, label_smoothing: parameters.LabelSmoothing);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            lossSum += loss.item<float>() * (double)size;
            correct += logits.argmax(1).eq(labels).sum().item<long>();
            onBatch?.Invoke(size);
        }
        var checkedOn = Evaluate(validation);
        return new EpochRecord(epoch, learningRate, lossSum / train.Count, (double)correct / train.Count, checkedOn.Loss, checkedOn.Accuracy);
    }

    public LossAndAccuracy Evaluate(LabelledTensors data)
    {
        using var logits = Predictor.Logits(Model, data.Images);
        using var scope = NewDisposeScope();
        double loss = cross_entropy(logits, data.Labels, reduction: nn.Reduction.Sum).item<float>() / data.Count;
        double accuracy = (double)logits.argmax(1).eq(data.Labels).sum().item<long>() / data.Count;
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
}
