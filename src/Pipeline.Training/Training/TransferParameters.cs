using Pipeline.Parameters;
using Pipeline.Training.Models;

namespace Pipeline.Training;

/// <summary>The <c>transfer</c> section: the classifier head trained on the backbone's features (the Featurize stage).</summary>
[ParameterSection("transfer")]
public sealed record TransferParameters : IValidatedParameters
{
    /// <summary>Featurize and train the head; Evaluate then puts it beside the CNN.</summary>
    public bool Enabled { get; init; } = true;
    /// <summary>A head from <see cref="ModelCatalog.Heads"/>.</summary>
    public string Head { get; init; } = "logistic";
    public int Epochs { get; init; } = 30;
    public int BatchSize { get; init; } = 256;
    public double LearningRate { get; init; } = 0.005;
    public double LearningRateDecay { get; init; } = 0.9;
    public long Seed { get; init; } = 1;

    public IEnumerable<string> Validate()
    {
        if (!ModelCatalog.Heads.ContainsKey(Head))
            yield return $"head: unknown head '{Head}' (heads: {string.Join(", ", ModelCatalog.Heads.Keys)})";
        foreach (var problem in AsTraining(new TrainParameters()).Validate().Where(p => !p.StartsWith("model:", StringComparison.Ordinal)))
            yield return problem;
    }

    /// <summary>The head's training run, on the CNN's threads and CPU settings.</summary>
    public TrainParameters AsTraining(TrainParameters cnn) => new()
    {
        Model = Head, Epochs = Epochs, BatchSize = BatchSize, LearningRate = LearningRate, LearningRateDecay = LearningRateDecay,
        Seed = Seed, Threads = cnn.Threads, MklIntelPath = cnn.MklIntelPath,
    };
}
