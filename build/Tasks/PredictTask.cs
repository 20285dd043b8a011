using Build.Host;
using Pipeline.Prediction;

namespace Build.Tasks;

[TaskName("Predict")]
public sealed class PredictTask : StageTask<PredictStage>;
