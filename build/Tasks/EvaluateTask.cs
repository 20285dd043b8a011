using Build.Host;
using Pipeline.Evaluation;

namespace Build.Tasks;

[TaskName("Evaluate")]
public sealed class EvaluateTask : StageTask<EvaluateStage>;
