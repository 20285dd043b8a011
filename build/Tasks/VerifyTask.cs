using Build.Host;
using Pipeline.Acquisition;

namespace Build.Tasks;

[TaskName("Verify")]
public sealed class VerifyTask : StageTask<VerifyStage>;
