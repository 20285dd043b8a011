using Build.Host;
using Pipeline.Training;

namespace Build.Tasks;

[TaskName("Transfer")]
public sealed class TransferTask : StageTask<TransferStage>;
