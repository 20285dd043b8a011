namespace Pipeline.Evaluation;

/// <summary>
/// The metric names an experiment records, shows, compares and sorts by: one definition for Evaluate's record, the
/// experiment log, the tables, the command line and a search's objectives (which add the model's parameter count).
/// </summary>
public static class MetricNames
{
    public const string Accuracy = "accuracy", BinaryAccuracy = "binary_accuracy", Loss = "loss", MacroF1 = "macro_f1",
        TransferAccuracy = "transfer_accuracy", TrainSeconds = "train_seconds", Parameters = "parameters";

    /// <summary>
    /// The best validation values over a run's epochs (not the last epoch's, which a run that overfits makes worse): the
    /// web report derives them from the training history and shows them beside the recorded metrics.
    /// </summary>
    public const string BestValAccuracy = "best_val_accuracy", BestValLoss = "best_val_loss";

    /// <summary>Evaluate's results that an experiment keeps, in the order the tables show them.</summary>
    public static readonly string[] Evaluated = [Accuracy, Loss, MacroF1, TransferAccuracy];

    /// <summary>Every metric of an experiment, in the order the tables show them.</summary>
    public static readonly string[] Experiment = [.. Evaluated, TrainSeconds];

    /// <summary>Best first means lowest first for these.</summary>
    public static bool LowerIsBetter(string metric) => metric is Loss or TrainSeconds or BestValLoss or Parameters;

    /// <summary>The training stage's per-epoch metric that tracks <paramref name="metric"/> (what a search prunes on), or null.</summary>
    public static string? Validation(string metric) => metric switch { Accuracy => "val_accuracy", Loss => "val_loss", _ => null };

    /// <summary>A duration, not a result: shown with one decimal.</summary>
    public static bool IsSeconds(string metric) => metric == TrainSeconds;
}
