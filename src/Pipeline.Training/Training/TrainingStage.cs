using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Onnx;
using Pipeline.Runtime;
using Pipeline.Stages;
using Pipeline.Training.Onnx;
using Serilog;

namespace Pipeline.Training;

/// <summary>
/// What every training stage (the CNN, the transfer head) does around <see cref="CheckpointedTraining"/>: set up
/// libtorch and record its versions, resume under the engine's key, and write the model card, summary and metrics.
/// </summary>
public static class TrainingStage
{
    /// <summary>Call before the first tensor is made: threads and the MKL switch take effect only then.</summary>
    public static void Prepare(TrainParameters parameters, string cacheDirectory, StageWorkspace workspace)
    {
        TorchRuntime.Initialize(parameters.Threads, parameters.MklIntelPath, cacheDirectory);
        foreach (var (tool, version) in TorchRuntime.Versions) workspace.Tools[tool] = version;
    }

    /// <param name="onEpoch">told of each trained epoch as <paramref name="stage"/>'s (see <see cref="StageContext.OnEpoch"/>)</param>
    public static TrainingResult Run(TrainParameters parameters, TrainingData data, IReadOnlyList<string> classes,
        StageWorkspace workspace, ILogger log, CancellationToken cancellation, string stage = "train", EpochObserver? onEpoch = null)
    {
        // Checkpoints carry over when everything but the epoch count is the same: inputs, parameters, code, versions.
        var run = new TrainingRun(workspace.Directory, ResumeKey(workspace.ResumeKey, TorchRuntime.Versions), [.. workspace.Salvage.Select(Earlier)])
        {
            AfterEpoch = onEpoch is null ? null : epoch => onEpoch(stage, epoch.Epoch, Metrics(epoch)),
        };
        var result = CheckpointedTraining.Run(parameters, data, run, log, cancellation);
        // From here the record holds the key (its resume key and tools): outputs hold results only, so a code change
        // that trains the same weights leaves the output hash, and the stages downstream, as they were.
        File.Delete(Path.Combine(workspace.Directory, CheckpointedTraining.CheckpointsFolder, CheckpointedTraining.KeyFile));

        new TrainedModel(parameters.Model, classes, data.InputShape, result.Summary.TotalParameters).Save(workspace.Directory);
        File.WriteAllText(workspace.PathOf("summary.txt"), result.Summary.ToTable());
        var trainedNow = result.Timings;
        workspace.Metrics["parameters"] = result.Summary.TotalParameters;
        workspace.Metrics["epochs_trained"] = trainedNow.Count;
        workspace.Metrics["resumed_from_epoch"] = result.ResumedFrom;
        workspace.Metrics["seconds_per_epoch"] = trainedNow.Count == 0 ? null : Math.Round(trainedNow.Average(t => t.Seconds), 2);
        workspace.Metrics["images_per_second"] = trainedNow.Count == 0 ? null : Math.Round(trainedNow.Average(t => t.ImagesPerSecond));
        workspace.Metrics["loader_wait_share"] = trainedNow.Count == 0 ? null : Math.Round(trainedNow.Average(t => t.LoaderWaitShare), 4);
        workspace.Metrics["peak_rss_mb"] = ProcessMemory.PeakResidentBytes() is { } peak ? Math.Round(peak / 1048576.0) : null;
        workspace.Metrics["val_accuracy"] = result.History[^1].ValAccuracy;
        workspace.Metrics["val_loss"] = result.History[^1].ValLoss;
        workspace.Metrics[EpochTimingsMetric] = CanonicalJson.ToNode(EpochTimings(result, workspace.PreviousRecord));
        return result;
    }

    /// <summary>An earlier folder of this stage (a leftover or the previous outputs), with the hashes and resume key its
    /// <c>stage.json</c> records if it has one.</summary>
    public static EarlierOutput Earlier(string folder) =>
        StageRecord.TryRead(folder) is { } record && OutputManifest.Read(folder, record) is { } outputs
            ? new(folder, outputs.ToDictionary(o => o.Path, o => o.Sha256, StringComparer.Ordinal), KeyOf(record))
            : new(folder, null);

    /// <summary>An epoch's figures by the names the history file uses.</summary>
    static IReadOnlyDictionary<string, double> Metrics(EpochRecord epoch) => new SortedDictionary<string, double>(StringComparer.Ordinal)
    {
        ["loss"] = epoch.Loss, ["accuracy"] = epoch.Accuracy, ["val_loss"] = epoch.ValLoss, ["val_accuracy"] = epoch.ValAccuracy,
        ["learning_rate"] = epoch.LearningRate,
    };

    static string ResumeKey(string? engineKey, IReadOnlyDictionary<string, string> versions) =>
        ContentHash.OfText(engineKey + CanonicalJson.Serialize(versions));

    /// <summary>The key a recorded run's checkpoints were made under: its resume key and the torch versions it recorded.</summary>
    public static string? KeyOf(StageRecord record) =>
        record.ResumeKey is null ? null
            : ResumeKey(record.ResumeKey, new SortedDictionary<string, string>(
                TorchRuntime.Versions.Keys.ToDictionary(k => k, k => record.Tools.GetValueOrDefault(k) ?? ""), StringComparer.Ordinal));

    /// <summary>The trained model as an ONNX file: what other tools run.</summary>
    public const string OnnxFile = "model.onnx";

    /// <summary>The model the stage just trained into <paramref name="workspace"/>, as an ONNX graph.</summary>
    public static byte[] Onnx(StageWorkspace workspace, OnnxPreprocessing preprocessing)
    {
        var card = TrainedModel.Load(workspace.Directory);
        using var network = card.Open(workspace.Directory);
        return OnnxExport.ToBytes(network, card.Model, card.InputShape, card.Classes, preprocessing);
    }

    /// <summary>The record metric that holds every epoch's timing (seconds, images/s, RSS): timings are never outputs.</summary>
    public const string EpochTimingsMetric = "epochs";

    /// <summary>This run's epoch timings, after those the previous record holds for the epochs it resumed from.</summary>
    static List<EpochTiming> EpochTimings(TrainingResult result, StageRecord? previous)
    {
        var earlier = previous is null ? [] : Timings(previous).Where(t => t.Epoch <= result.ResumedFrom);
        return [.. earlier, .. result.Timings];
    }

    /// <summary>The epoch timings a training stage recorded.</summary>
    public static List<EpochTiming> Timings(StageRecord record) =>
        record.Metrics.GetValueOrDefault(EpochTimingsMetric) is JsonArray array
            ? array.Deserialize<List<EpochTiming>>(CanonicalJson.Options) ?? []
            : [];
}
