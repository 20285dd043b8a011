using Build.Host;
using Pipeline.Acquisition;

namespace Build.Tasks;

[TaskName("Download")]
public sealed class DownloadTask : StageTask<DownloadStage>;
