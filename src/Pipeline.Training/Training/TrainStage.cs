using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Onnx;
using Pipeline.Runtime;
using Pipeline.Stages;

namespace Pipeline.Training;

/// <summary>Train: the CNN chosen by train.model, checkpointed every epoch; more epochs resume from the last one.</summary>
public sealed class TrainStage : Stage<TrainStage>
{
    public override string Name => "train";
    public override string Description => "Train the CNN chosen by train.model with checkpoints after every epoch; more epochs resume from the last one.";
    public override IReadOnlyList<Stage> Upstream => [VerifyStage.Instance, AugmentStage.Instance];

    public override IEnumerable<Stage> Reads(StageContext context) =>
        JoinsAugmented(context) ? Upstream : [VerifyStage.Instance];

    static bool JoinsAugmented(StageContext context) => context.Section<AugmentParameters>() is { JoinTraining: true, Samples: > 0 };

    public override bool RunsAlone => true;
    // Threads and the MKL path change libtorch's sums in the last bits, so they are part of the result.
    public override IReadOnlyList<string> Shapes =>
        ["train.model", "train.epochs", "train.batch_size", "train.epoch_images", "train.learning_rate", "train.learning_rate_schedule", "train.learning_rate_decay", "train.label_smoothing", "train.seed",
         "train.threads", "train.mkl_intel_path"];
    public override IReadOnlyList<string>? Resumable(StageContext context) =>
        context.Section<TrainParameters>().LongerRunsResume() ? ["train.epochs"] : [];

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var parameters = context.Section<TrainParameters>();
        TrainingStage.Prepare(parameters, ArtifactStore.CacheFolder(context.Store.Root), workspace);

        var (dataset, verified) = VerifyStage.Load(context);
        using var validation = new ImageExamples([dataset.LoadSplit(verified, "validation")]);
        if (validation.Count == 0)
            throw new StageException("train needs a validation split to check each epoch: set verify.validation above 0");
        var splits = new List<ImageSplit> { dataset.LoadSplit(verified, "train") };
        if (JoinsAugmented(context))
        {
            string augmented = context.OutputOf(AugmentStage.Instance);
            splits.Add(VerifiedDataset.Load(augmented).LoadSplit(augmented, "augmented"));
        }
        // Read from disk batch by batch (BatchLoader): memory is a few batches, not the splits.
        using var train = new ImageExamples(splits);
        long stepBytes = MemoryEstimate.Check(parameters.Model, dataset.Classes.Count, train.ExampleShape, parameters.BatchSize, "train.batch_size");
        workspace.Metrics["estimated_step_mb"] = Math.Round(stepBytes / 1048576.0);
        if (stepBytes > 512L << 20 && MallocTuning.Allocator == "glibc" && Environment.GetEnvironmentVariable("PIPELINE_MALLOC") != "glibc")
            context.Log.Warning("train: a step of about {StepMb:N0} MB on glibc's heap, which can hold two to three times that; " +
                "with libtcmalloc-minimal4 installed build.sh runs the host on tcmalloc (docs/scaling.md)", stepBytes >> 20);
        context.Log.Information("train: {Model} on {Train:N0} training images ({Splits}), {Validation:N0} validation; {Threads} threads, MKL path {Mkl}",
            parameters.Model, train.Count, string.Join(" + ", splits.Select(s => $"{s.Count:N0} {s.Name}")), validation.Count,
            workspace.Tools["torch_threads"], workspace.Tools["mkl_cpu_path"]);

        TrainingStage.Run(parameters, new TrainingData(train, validation, dataset.Classes.Count, train.ExampleShape),
            dataset.Classes, workspace, context.Log, context.Cancellation, Name, context.OnEpoch);
        File.WriteAllBytes(workspace.PathOf(TrainingStage.OnnxFile), TrainingStage.Onnx(workspace, OnnxPreprocessing.Pixels(dataset.Channels, Imaging.FramingStatistics.Load(verified))));
        return Task.CompletedTask;
    }
}
