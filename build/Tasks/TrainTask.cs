using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Runtime;
using Pipeline.Stages;
using Pipeline.Training;

namespace Build.Tasks;

[TaskName("Train")]
[TaskDescription("Train the CNN chosen by train.model with checkpoints after every epoch; more epochs resume from the last one.")]
[IsDependentOn(typeof(VerifyTask))]
[IsDependentOn(typeof(AugmentTask))]
public sealed class TrainTask : StageTask
{
    static bool UsesAugmented(PipelineContext context) => context.Parameters.Augment is { JoinTraining: true, Samples: > 0 };

    public override StageDefinition Define(PipelineContext context) => UsesAugmented(context)
        ? new(StageName, 1, context.Parameters.Train, new UpstreamInput("verify"), new UpstreamInput("augment"))
        : new(StageName, 1, context.Parameters.Train, new UpstreamInput("verify"));

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        var parameters = context.Parameters.Train;
        TrainingStage.Prepare(parameters, context.Store, workspace);

        string verified = context.Store.StageDirectory("verify");
        var dataset = VerifiedDataset.Load(verified);
        var validationSplit = dataset.LoadSplit(verified, "validation");
        if (validationSplit.Count == 0)
            throw new StageException("train needs a validation split to check each epoch: set verify.validation above 0");
        var splits = new List<ImageSplit> { dataset.LoadSplit(verified, "train") };
        if (UsesAugmented(context))
        {
            string augmented = context.Store.StageDirectory("augment");
            splits.Add(VerifiedDataset.Load(augmented).LoadSplit(augmented, "augmented"));
        }
        using var train = LabelledTensors.From([.. splits]);
        using var validation = LabelledTensors.From(validationSplit);
        context.Logger.Information("train: {Model} on {Train:N0} training images ({Splits}), {Validation:N0} validation; {Threads} threads, MKL path {Mkl}",
            parameters.Model, train.Count, string.Join(" + ", splits.Select(s => $"{s.Count:N0} {s.Name}")), validation.Count,
            workspace.Tools["torch_threads"], workspace.Tools["mkl_cpu_path"]);

        TrainingStage.Run(context.Store, Define(context), parameters, new TrainingData(train, validation, dataset.Classes.Count, train.ExampleShape),
            dataset.Classes, workspace, context.Logger, context.Cancellation);
        workspace.Metrics["peak_rss_mb"] = ProcessMemory.PeakResidentBytes() is { } peak ? Math.Round(peak / 1048576.0) : null;
        return Task.CompletedTask;
    }
}
