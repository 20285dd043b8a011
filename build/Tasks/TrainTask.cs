using Build.Host;
using Pipeline.Training;

namespace Build.Tasks;

[TaskName("Train")]
public sealed class TrainTask : StageTask<TrainStage>;
