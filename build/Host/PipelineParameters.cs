using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Evaluation;
using Pipeline.Features;
using Pipeline.Imaging;
using Pipeline.Training;

namespace Build.Host;

/// <summary>Every section of the parameters file, typed. A stage's section is part of its fingerprint.</summary>
public sealed record PipelineParameters(DownloadParameters Download, VerifyParameters Verify, ExportParameters Export,
    AugmentParameters Augment, FeaturizeParameters Featurize, TrainParameters Train, TransferParameters Transfer, EvaluateParameters Evaluate);
