using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Imaging;
using Pipeline.Training;

namespace Build.Host;

/// <summary>Every section of the parameters file, typed. A stage's section is part of its fingerprint.</summary>
public sealed record PipelineParameters(DownloadParameters Download, VerifyParameters Verify, ExportParameters Export,
    TrainParameters Train, EvaluateParameters Evaluate);
