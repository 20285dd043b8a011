using System.Diagnostics;
using System.Text.Json;
using Pipeline.Runtime;
using Pipeline.Stages;
using Pipeline.Training.Models;
using Serilog;

namespace Pipeline.Training;

/// <summary>What a model is trained on: training examples (images, maybe plus augmented ones, or feature vectors),
/// the validation split, and the shape of one example.</summary>
public sealed record TrainingData(LabelledTensors Train, LabelledTensors Validation, int Classes, long[] InputShape);

/// <param name="Seconds">the whole epoch: training, then the validation pass</param>
/// <param name="ImagesPerSecond">training images per second of the training part</param>
/// <param name="ResidentMegabytes">the process's resident memory at the end of the epoch (flat when nothing leaks)</param>
public sealed record EpochTiming(int Epoch, double Seconds, double ImagesPerSecond, double ValidationSeconds, double? ResidentMegabytes);

/// <param name="Timings">every epoch's timing, including those of earlier runs this one resumed from</param>
public sealed record TrainingResult(IReadOnlyList<EpochRecord> History, int ResumedFrom, IReadOnlyList<EpochTiming> Timings, ModelSummary Summary)
{
    public IEnumerable<EpochTiming> TrainedNow => Timings.Skip(ResumedFrom);
}

/// <summary>
/// Trains epoch by epoch into a folder, checkpointing after every epoch, and continues from an earlier folder's
/// checkpoints when they were made with the same <c>resumeKey</c> (everything but the epoch count): raising the
/// epochs from 5 to 6 trains one epoch. Layout: <c>model.pt</c>, <c>history.json</c>, and <c>checkpoints/</c>
/// holding <c>epoch-NNN.pt</c> weights for every epoch, the optimizer state after the last one, and the key.
/// </summary>
public static class CheckpointedTraining
{
    public const string WeightsFile = "model.pt", HistoryFile = "history.json", TimingsFile = "timings.json";
    const string Checkpoints = "checkpoints", KeyFile = "resume.json", OptimizerFile = "optimizer.pt";

    public static TrainingResult Run(TrainParameters parameters, TrainingData data, string output, string resumeKey,
        IEnumerable<string?> earlierOutputs, ILogger log, CancellationToken cancellation = default)
    {
        string folder = Path.Combine(output, Checkpoints);
        Directory.CreateDirectory(folder);
        using var trainer = new Trainer(parameters, data.Classes, data.InputShape);
        var summary = ModelSummary.Describe(parameters.Model, trainer.Model, data.InputShape);
        log.Information("{Summary:l}", summary.ToTable());

        var (history, timings) = Resume(parameters.Epochs, resumeKey, earlierOutputs.OfType<string>(), folder, log);
        CanonicalJson.WriteFile(Path.Combine(folder, KeyFile), new { key = resumeKey });
        if (history.Count > 0)
            trainer.Load(Path.Combine(folder, EpochWeights(history.Count)),
                history.Count < parameters.Epochs ? Path.Combine(folder, OptimizerFile) : null);
        int resumedFrom = history.Count;

        for (int epoch = history.Count + 1; epoch <= parameters.Epochs; epoch++)
        {
            var progress = new Progress(log, $"epoch {epoch}/{parameters.Epochs}", data.Train.Count, "images", TimeSpan.FromSeconds(10));
            var clock = Stopwatch.StartNew();
            double trainSeconds = 0;
            var record = trainer.TrainEpoch(epoch, data.Train, data.Validation, size =>
            {
                progress.Add(size);
                trainSeconds = clock.Elapsed.TotalSeconds;
            }, cancellation);
            var timing = new EpochTiming(epoch, clock.Elapsed.TotalSeconds, data.Train.Count / Math.Max(trainSeconds, 1e-9),
                clock.Elapsed.TotalSeconds - trainSeconds, ProcessMemory.ResidentBytes() is { } rss ? Math.Round(rss / 1048576.0) : null);
            timings.Add(timing);
            history.Add(record);
            log.Information("epoch {Epoch}/{Epochs}: loss {Loss:0.0000} accuracy {Accuracy:0.0000} val_loss {ValLoss:0.0000} val_accuracy {ValAccuracy:0.0000} lr {LearningRate:0.######} | {Seconds:0.0} s, {Rate:N0} images/s, validation {ValidationSeconds:0.0} s, RSS {Rss} MB",
                epoch, parameters.Epochs, record.Loss, record.Accuracy, record.ValLoss, record.ValAccuracy, record.LearningRate, timing.Seconds, timing.ImagesPerSecond, timing.ValidationSeconds, timing.ResidentMegabytes);
            SaveCheckpoint(trainer, folder, history, timings);
        }

        File.Copy(Path.Combine(folder, EpochWeights(parameters.Epochs)), Path.Combine(output, WeightsFile), overwrite: true);
        CanonicalJson.WriteFile(Path.Combine(output, HistoryFile), history);
        CanonicalJson.WriteFile(Path.Combine(output, TimingsFile), timings);
        return new TrainingResult(history, resumedFrom, timings, summary);
    }

    public static List<EpochRecord> ReadHistory(string path) => Read<EpochRecord>(path);

    public static List<EpochTiming> ReadTimings(string path) => File.Exists(path) ? Read<EpochTiming>(path) : [];

    static List<T> Read<T>(string path) =>
        JsonSerializer.Deserialize<List<T>>(File.ReadAllText(path), CanonicalJson.Options) ?? throw new StageException($"{path}: empty");

    static string EpochWeights(int epoch) => $"epoch-{epoch:D3}.pt";

    /// <summary>Weights first, then the optimizer state, then the history that says the epoch is complete.</summary>
    static void SaveCheckpoint(Trainer trainer, string folder, List<EpochRecord> history, List<EpochTiming> timings)
    {
        string weights = Path.Combine(folder, EpochWeights(history.Count)), optimizer = Path.Combine(folder, OptimizerFile);
        trainer.Save(weights + ".tmp", optimizer + ".tmp");
        File.Move(weights + ".tmp", weights, overwrite: true);
        File.Move(optimizer + ".tmp", optimizer, overwrite: true);
        CanonicalJson.WriteFile(Path.Combine(folder, TimingsFile), timings);
        CanonicalJson.WriteFile(Path.Combine(folder, HistoryFile), history);
    }

    /// <summary>
    /// Copies the longest usable run of checkpoints from an earlier folder with the same key into <paramref name="folder"/>
    /// and returns its history (empty when nothing fits). Continuing needs the optimizer state, which only the last
    /// epoch of a folder has; a shorter target needs only that epoch's weights.
    /// </summary>
    static (List<EpochRecord>, List<EpochTiming>) Resume(int epochs, string key, IEnumerable<string> earlierOutputs, string folder, ILogger log)
    {
        (string Folder, List<EpochRecord> History, int Usable)? best = null;
        foreach (var earlier in earlierOutputs.Select(o => Path.Combine(o, Checkpoints)))
        {
            try
            {
                string keyPath = Path.Combine(earlier, KeyFile), historyPath = Path.Combine(earlier, HistoryFile);
                if (!File.Exists(keyPath) || !File.Exists(historyPath)) continue;
                if (JsonDocument.Parse(File.ReadAllText(keyPath)).RootElement.GetProperty("key").GetString() != key) continue;
                var earlierHistory = ReadHistory(historyPath).ToList();
                int usable = Math.Min(earlierHistory.Count, epochs);
                bool complete = usable > 0 && File.Exists(Path.Combine(earlier, EpochWeights(usable)))
                    && (usable == epochs || File.Exists(Path.Combine(earlier, OptimizerFile)));
                if (complete && usable > (best?.Usable ?? 0)) best = (earlier, earlierHistory, usable);
            }
            catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
                log.Warning("ignoring unreadable checkpoints in {Folder}: {Message}", earlier, e.Message);
            }
        }
        if (best is not { } found) return ([], []);

        for (int epoch = 1; epoch <= found.Usable; epoch++)
            if (File.Exists(Path.Combine(found.Folder, EpochWeights(epoch))))
                File.Copy(Path.Combine(found.Folder, EpochWeights(epoch)), Path.Combine(folder, EpochWeights(epoch)), overwrite: true);
        if (found.Usable == found.History.Count && File.Exists(Path.Combine(found.Folder, OptimizerFile)))
            File.Copy(Path.Combine(found.Folder, OptimizerFile), Path.Combine(folder, OptimizerFile), overwrite: true);
        var history = found.History.Take(found.Usable).ToList();
        var timings = ReadTimings(Path.Combine(found.Folder, TimingsFile)).Take(found.Usable).ToList();
        CanonicalJson.WriteFile(Path.Combine(folder, TimingsFile), timings);
        CanonicalJson.WriteFile(Path.Combine(folder, HistoryFile), history);
        log.Information("resuming from the epoch-{Epoch} checkpoint in {Folder}", found.Usable, found.Folder);
        return (history, timings);
    }
}
