using Build.Host;
using Pipeline.Augmentation;

namespace Build.Tasks;

[TaskName("Augment")]
public sealed class AugmentTask : StageTask<AugmentStage>;
