using Build.Host;

namespace Build.Tasks;

[TaskName("Default")]
[TaskDescription("The whole pipeline: the target when --target is not given.")]
[IsDependentOn(typeof(ExportTask))]
[IsDependentOn(typeof(EvaluateTask))]
public sealed class DefaultTask : AsyncFrostingTask<PipelineContext>;
