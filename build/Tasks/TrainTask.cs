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
        TorchRuntime.Initialize(parameters.Threads, parameters.MklIntelPath, Path.Combine(context.Store.Root, ".cache"));
        var versions = TorchRuntime.Versions;
        foreach (var (tool, version) in versions) workspace.Tools[tool] = version;

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
            parameters.Model, train.Count, string.Join(" + ", splits.Select(s => $"{s.Count:N0} {s.Name}")), validation.Count, versions["torch_threads"], versions["mkl_cpu_path"]);

        // Checkpoints carry over when everything but the epoch count is the same: inputs, parameters, versions, switches.
        var sameButEpochs = Define(context) with { Parameters = parameters with { Epochs = 0 } };
        string resumeKey = ContentHash.OfText(context.Store.Fingerprint(sameButEpochs).Hash + CanonicalJson.Serialize(versions));
        var result = CheckpointedTraining.Run(parameters, new TrainingData(train, validation, dataset.Classes.Count, train.ExampleShape),
            workspace.Directory, resumeKey, [workspace.Leftover, workspace.Previous], context.Logger, context.Cancellation);

        new TrainedModel(parameters.Model, dataset.Classes, train.ExampleShape, result.Summary.TotalParameters).Save(workspace.Directory);
        File.WriteAllText(workspace.PathOf("summary.txt"), result.Summary.ToTable());

        var last = result.History[^1];
        var trainedNow = result.TrainedNow.ToList();
        workspace.Metrics["parameters"] = result.Summary.TotalParameters;
        workspace.Metrics["epochs_trained"] = trainedNow.Count;
        workspace.Metrics["resumed_from_epoch"] = result.ResumedFrom;
        workspace.Metrics["seconds_per_epoch"] = trainedNow.Count == 0 ? null : Math.Round(trainedNow.Average(t => t.Seconds), 2);
        workspace.Metrics["images_per_second"] = trainedNow.Count == 0 ? null : Math.Round(trainedNow.Average(t => t.ImagesPerSecond));
        workspace.Metrics["val_accuracy"] = last.ValAccuracy;
        workspace.Metrics["val_loss"] = last.ValLoss;
        workspace.Metrics["peak_rss_mb"] = ProcessMemory.PeakResidentBytes() is { } peak ? Math.Round(peak / 1048576.0) : null;
        return Task.CompletedTask;
    }
}
