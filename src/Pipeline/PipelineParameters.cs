using Pipeline.Acquisition;
using Pipeline.Features;
using Pipeline.Imaging;

namespace Pipeline;

/// <summary>Every section of the parameters file, typed. A stage's section is part of its fingerprint.</summary>
public sealed record PipelineParameters(DownloadParameters Download, VerifyParameters Verify, ExportParameters Export,
    FeaturizeParameters Featurize);
