using Build.Host;
using Pipeline.Imaging;

namespace Build.Tasks;

[TaskName("Export")]
public sealed class ExportTask : StageTask<ExportStage>;
