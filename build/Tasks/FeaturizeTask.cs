using Build.Host;
using Pipeline.Features;

namespace Build.Tasks;

[TaskName("Featurize")]
public sealed class FeaturizeTask : StageTask<FeaturizeStage>;
