using Pipeline.Parameters;
using Pipeline.Training.Models;

namespace Pipeline.Training;

/// <summary>The <c>train</c> section: which CNN, and how it is trained.</summary>
[ParameterSection("train")]
public sealed record TrainParameters : IValidatedParameters
{
    /// <summary>A name from <see cref="ModelCatalog"/>.</summary>
    public string Model { get; init; } = "reference";
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 512;
    /// <summary>Images an epoch trains on: the first n of its shuffled order (0 = the whole split), as Keras's
    /// steps_per_epoch, for splits too large to pass over between validations.</summary>
    public int EpochImages { get; init; }
    /// <summary>Adam's learning rate: the first epoch's (exponential schedule) or the peak (one_cycle).</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary><see cref="Schedules"/>: how the learning rate moves during training.</summary>
    public string LearningRateSchedule { get; init; } = "exponential";
    /// <summary>The exponential schedule's factor applied after every epoch (1 = constant). A per-epoch rule, so
    /// epoch k trains the same whatever the total number of epochs: that is what makes resuming exact.</summary>
    public double LearningRateDecay { get; init; } = 1.0;
    /// <summary>The share of each label's weight spread evenly over all classes in the loss (0 = plain one-hot targets).</summary>
    public double LabelSmoothing { get; init; }
    public long Seed { get; init; } = 1;
    /// <summary>libtorch's intra-op threads; 0 = one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Make MKL take its Intel code path on AMD CPUs (see <see cref="MklCpuDispatch"/>).</summary>
    public bool MklIntelPath { get; init; } = true;

    public IEnumerable<string> Validate()
    {
        if (!ModelCatalog.ImageModels.ContainsKey(Model))
            yield return $"model: unknown model '{Model}' (models: {string.Join(", ", ModelCatalog.ImageModels.Keys)})";
        if (Epochs < 1) yield return $"epochs must be ≥ 1, got {Epochs}";
        if (BatchSize < 1) yield return $"batch_size must be ≥ 1, got {BatchSize}";
        if (EpochImages < 0) yield return $"epoch_images must be ≥ 0 (0 = the whole split), got {EpochImages}";
        if (!(LearningRate > 0 && LearningRate < 10)) yield return $"learning_rate must be > 0 and < 10, got {LearningRate}";
        if (!Schedules.ContainsKey(LearningRateSchedule))
            yield return $"learning_rate_schedule: unknown schedule '{LearningRateSchedule}' (schedules: {string.Join(", ", Schedules.Keys)})";
        if (!(LearningRateDecay > 0 && LearningRateDecay <= 1)) yield return $"learning_rate_decay must be > 0 and ≤ 1, got {LearningRateDecay}";
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) yield return $"label_smoothing must be ≥ 0 and < 1, got {LabelSmoothing}";
        if (Threads < 0) yield return $"threads must be ≥ 0 (0 = one per core), got {Threads}";
    }

    public static readonly IReadOnlyDictionary<string, string> Schedules = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["exponential"] = "learning_rate in epoch 1, multiplied by learning_rate_decay after every epoch; more epochs resume",
        ["one_cycle"] = "per batch: up from learning_rate/25 to learning_rate over the first 30% of the run, then down towards " +
                        "learning_rate/250,000 at its end (PyTorch's OneCycleLR curve: both halves cosine); the run's length is epochs, so more epochs retrain",
    };

    /// <summary>Whether epoch k trains the same whatever the total number of epochs (so a longer run resumes a shorter one).</summary>
    /// <summary>The images epoch k trains on, of a split of <paramref name="count"/>.</summary>
    public long ImagesPerEpoch(long count) => EpochImages > 0 ? Math.Min(EpochImages, count) : count;

    public bool LongerRunsResume() => LearningRateSchedule == "exponential";

    /// <summary>The learning rate for the batch that starts at <paramref name="progress"/> (0 to 1) of epoch <paramref name="epoch"/>.</summary>
    public double LearningRateAt(int epoch, double progress = 0)
    {
        if (LearningRateSchedule == "exponential")
            return LearningRate * Math.Pow(LearningRateDecay, epoch - 1);
        const double warmup = 0.3, startDivisor = 25, endDivisor = 25 * 1e4;
        double t = (epoch - 1 + progress) / Epochs;
        (double from, double to, double phase) = t < warmup
            ? (LearningRate / startDivisor, LearningRate, t / warmup)
            : (LearningRate, LearningRate / endDivisor, (t - warmup) / (1 - warmup));
        return to + (from - to) * (1 + Math.Cos(Math.PI * phase)) / 2;
    }
}
