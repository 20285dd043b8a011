using System.Text.Json;
using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Evaluation;
using Pipeline.Features;
using Pipeline.Imaging;
using Pipeline.Stages;
using Pipeline.Prediction;
using Pipeline.Training;

namespace Build.Host;

/// <summary>Every section of the parameters file, typed. A stage's declaration names the keys that shape its outputs.</summary>
public sealed record PipelineParameters(DownloadParameters Download, VerifyParameters Verify, ExportParameters Export,
    AugmentParameters Augment, FeaturizeParameters Featurize, TrainParameters Train, TransferParameters Transfer, EvaluateParameters Evaluate,
    CacheParameters Cache, PredictParameters Predict, SlurmParameters Slurm)
{
    /// <summary>The sections by their name in the parameters file, as the stages read them.</summary>
    public IReadOnlyDictionary<string, object> Sections() =>
        GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0 && p.Name != nameof(EqualityContract))
            .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name), p => p.GetValue(this)!);
}
