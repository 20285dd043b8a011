using System.Diagnostics;
using System.Text.Json;
using Pipeline.Runtime;
using Pipeline.Stages;
using Pipeline.Training.Models;
using Serilog;

namespace Pipeline.Training;

/// <summary>What a model is trained on: training examples (images, maybe plus augmented ones, or feature vectors),
/// the validation split, and the shape of one example.</summary>
public sealed record TrainingData(ExampleSource Train, ExampleSource Validation, int Classes, long[] InputShape);

/// <param name="Seconds">the whole epoch: training, then the validation pass</param>
/// <param name="ImagesPerSecond">training images per second of the training part</param>
/// <param name="ResidentMegabytes">the process's resident memory at the end of the epoch (flat when nothing leaks)</param>
/// <param name="LoaderWaitShare">the share of the training part spent waiting for the loader's next batch</param>
public sealed record EpochTiming(int Epoch, double Seconds, double ImagesPerSecond, double ValidationSeconds, double? ResidentMegabytes,
    double LoaderWaitShare = 0);

/// <param name="Timings">the epochs this run trained; none for epochs taken from checkpoints. Timings are never
/// written to the output folder (identical weights must give identical files): the caller records them as metrics.</param>
public sealed record TrainingResult(IReadOnlyList<EpochRecord> History, int ResumedFrom, IReadOnlyList<EpochTiming> Timings, ModelSummary Summary);

/// <summary>
/// An earlier output folder whose checkpoints may be resumed from, with the SHA-256 (lowercase hex) of its files as its
/// producer recorded them, keyed by path relative to <paramref name="Folder"/> with '/' separators; null when nothing
/// vouches for the folder (a killed run's leftover). Checkpoints are then checked against their own manifest only.
/// <paramref name="RecordedKey"/> is the resume key its checkpoints were made under, as recorded; when null, the
/// folder's own <see cref="CheckpointedTraining.KeyFile"/> tells (a run in progress or killed), and without either
/// nothing in it is resumed.
/// </summary>
public sealed record EarlierOutput(string Folder, IReadOnlyDictionary<string, string>? RecordedSha256, string? RecordedKey = null);

/// <summary>
/// One training run: the folder it writes, the key its checkpoints are made under (everything but the epoch count), the
/// earlier folders it may resume from (newest first; only read), and <see cref="AfterEpoch"/>.
/// </summary>
public sealed record TrainingRun(string Folder, string ResumeKey, IReadOnlyList<EarlierOutput> Earlier)
{
    /// <summary>Called after each trained epoch is checkpointed and <c>history.json</c> rewritten; throwing stops the run
    /// there, with the epochs so far resumable.</summary>
    public Action<EpochRecord>? AfterEpoch { get; init; }
}

/// <summary>
/// Trains epoch by epoch into a folder, checkpointing after every epoch, and continues from earlier folders'
/// checkpoints made with the same <c>resumeKey</c> (everything but the epoch count): raising the epochs from 5 to 6
/// trains one epoch. Layout: <c>model.pt</c>, <c>history.json</c>, <c>checkpoints/key.txt</c> (the resume key) and
/// <c>checkpoints/epoch-NNN/</c> for every epoch (history.json is rewritten after every epoch, so a reader sees
/// the run as it goes), each one unit holding the weights, the optimizer state, the history up
/// to that epoch and a manifest (epoch, SHA-256 of each file). The key is kept out of the units, so the same weights
/// give the same files under any key: a caller that records the key elsewhere deletes <c>key.txt</c> (TrainingStage). A unit is written as <c>epoch-NNN.partial/</c> and renamed when complete, so a unit that
/// exists is whole; it is still verified before use, and one that fails is skipped with a warning.
/// </summary>
public static class CheckpointedTraining
{
    public const string WeightsFile = "model.pt", HistoryFile = "history.json", CheckpointsFolder = "checkpoints";
    public const string OptimizerFile = "optimizer.pt", ManifestFile = "manifest.json";

    /// <summary>The resume key of the folder's checkpoints, under <c>checkpoints/</c>.</summary>
    public const string KeyFile = "key.txt";
    const string PartialSuffix = ".partial";
    static readonly string[] UnitFiles = [WeightsFile, OptimizerFile, HistoryFile];

    /// <summary>The folder of one epoch's checkpoint, relative to <c>checkpoints/</c>.</summary>
    public static string UnitFolder(int epoch) => $"epoch-{epoch:D3}";

    /// <summary>Trains <paramref name="parameters"/>' epochs into <c>run.Folder</c>, resuming from the earlier folders'
    /// verified units made under the same key (units are only copied from them, never changed).</summary>
    public static TrainingResult Run(TrainParameters parameters, TrainingData data, TrainingRun run, ILogger log, CancellationToken cancellation = default)
    {
        string output = run.Folder, folder = Path.Combine(output, CheckpointsFolder);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, KeyFile), run.ResumeKey);
        CrashHook.Point("checkpoint");
        var trainer = new Trainer(parameters, data.Classes, data.InputShape);
        try
        {
            var summary = ModelSummary.Describe(parameters.Model, trainer.Model, data.InputShape);
            log.Information("{Summary:l}", summary.ToTable());
            var history = new List<EpochRecord>();
            var copied = CopyVerifiedUnits(parameters.Epochs, run.ResumeKey, run.Earlier, folder, log);
            foreach (var (epoch, (source, unitHistory)) in copied.Reverse())
            {
                string unit = Path.Combine(folder, UnitFolder(epoch));
                try
                {
                    trainer.Load(Path.Combine(unit, WeightsFile), Path.Combine(unit, OptimizerFile));
                    log.Information("resuming from the epoch-{Epoch} checkpoint in {Folder}", epoch, source);
                    history = unitHistory;
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.Warning("discarding checkpoint {Unit}: it does not load ({Message})", source, e.Message);
                    Directory.Delete(unit, recursive: true);
                    CrashHook.Point("checkpoint");
                    // A half-loaded model is unusable: go on from a fresh one, as a straight run starts.
                    trainer.Dispose();
                    trainer = new Trainer(parameters, data.Classes, data.InputShape);
                }
            }
            int resumedFrom = history.Count;

            var timings = new List<EpochTiming>();
            for (int epoch = history.Count + 1; epoch <= parameters.Epochs; epoch++)
            {
                var progress = new Progress(log, $"epoch {epoch}/{parameters.Epochs}", parameters.ImagesPerEpoch(data.Train.Count), "images", TimeSpan.FromSeconds(10));
                var clock = Stopwatch.StartNew();
                double trainSeconds = 0;
                var record = trainer.TrainEpoch(epoch, data.Train, data.Validation, size =>
                {
                    progress.Add(size);
                    trainSeconds = clock.Elapsed.TotalSeconds;
                }, cancellation);
                var timing = new EpochTiming(epoch, clock.Elapsed.TotalSeconds, parameters.ImagesPerEpoch(data.Train.Count) / Math.Max(trainSeconds, 1e-9),
                    clock.Elapsed.TotalSeconds - trainSeconds, ProcessMemory.ResidentBytes() is { } rss ? Math.Round(rss / 1048576.0) : null,
                    Math.Round(trainer.LoaderWait.TotalSeconds / Math.Max(trainSeconds, 1e-9), 4));
                timings.Add(timing);
                history.Add(record);
                log.Information("epoch {Epoch}/{Epochs}: loss {Loss:0.0000} accuracy {Accuracy:0.0000} val_loss {ValLoss:0.0000} val_accuracy {ValAccuracy:0.0000} lr {LearningRate:0.######} | {Seconds:0.0} s, {Rate:N0} images/s, validation {ValidationSeconds:0.0} s, RSS {Rss} MB, loader wait {Wait:0.0%}",
                    epoch, parameters.Epochs, record.Loss, record.Accuracy, record.ValLoss, record.ValAccuracy, record.LearningRate, timing.Seconds, timing.ImagesPerSecond, timing.ValidationSeconds, timing.ResidentMegabytes, timing.LoaderWaitShare);
                SaveUnit(trainer, folder, history);
                CanonicalJson.WriteFile(Path.Combine(output, HistoryFile), history);
                run.AfterEpoch?.Invoke(record);
            }

            File.Copy(Path.Combine(folder, UnitFolder(parameters.Epochs), WeightsFile), Path.Combine(output, WeightsFile), overwrite: true);
            CrashHook.Point("checkpoint");
            CanonicalJson.WriteFile(Path.Combine(output, HistoryFile), history);
            CrashHook.Point("checkpoint");
            return new TrainingResult(history, resumedFrom, timings, summary);
        }
        finally
        {
            trainer.Dispose();
        }
    }

    public static List<EpochRecord> ReadHistory(string path) => Read<EpochRecord>(path);


    static List<T> Read<T>(string path) =>
        JsonSerializer.Deserialize<List<T>>(File.ReadAllText(path), CanonicalJson.Options) ?? throw new StageException($"{path}: empty");

    /// <summary>What a unit says about itself; the hashes cover every other file of the unit.</summary>
    sealed record UnitManifest(int Epoch, SortedDictionary<string, string> Sha256);

    /// <summary>Writes the unit under a temporary name, manifest last, and renames it: the rename commits the epoch.</summary>
    static void SaveUnit(Trainer trainer, string folder, List<EpochRecord> history)
    {
        int epoch = history.Count;
        string unit = Path.Combine(folder, UnitFolder(epoch)), partial = StartPartial(unit);
        trainer.Save(Path.Combine(partial, WeightsFile), Path.Combine(partial, OptimizerFile));
        CrashHook.Point("checkpoint");
        CanonicalJson.WriteFile(Path.Combine(partial, HistoryFile), history);
        CrashHook.Point("checkpoint");
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in UnitFiles) hashes[file] = ContentHash.OfFile(Path.Combine(partial, file));
        CanonicalJson.WriteFile(Path.Combine(partial, ManifestFile), new UnitManifest(epoch, hashes));
        CrashHook.Point("checkpoint");
        Commit(partial, unit);
    }

    static string StartPartial(string unit)
    {
        string partial = unit + PartialSuffix;
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
            CrashHook.Point("checkpoint");
        }
        Directory.CreateDirectory(partial);
        CrashHook.Point("checkpoint");
        return partial;
    }

    static void Commit(string partial, string unit)
    {
        if (Directory.Exists(unit))
        {
            Directory.Delete(unit, recursive: true);
            CrashHook.Point("checkpoint");
        }
        Directory.Move(partial, unit);
        CrashHook.Point("checkpoint");
    }

    /// <summary>
    /// Copies every unit of epochs 1..target that verifies from the earlier folders into <paramref name="folder"/>,
    /// the first good copy of each epoch, and returns where each came from with its history. Units that fail are named
    /// in a warning; earlier folders are only read.
    /// </summary>
    static SortedDictionary<int, (string Source, List<EpochRecord> History)> CopyVerifiedUnits(int epochs, string key,
        IEnumerable<EarlierOutput> earlier, string folder, ILogger log)
    {
        string self = Path.GetFullPath(Path.GetDirectoryName(folder)!);
        var sources = earlier.Where(e => Directory.Exists(Path.Combine(e.Folder, CheckpointsFolder)) && Path.GetFullPath(e.Folder) != self).ToList();
        var copied = new SortedDictionary<int, (string, List<EpochRecord>)>();
        for (int epoch = 1; epoch <= epochs; epoch++)
            foreach (var source in sources)
            {
                string relative = $"{CheckpointsFolder}/{UnitFolder(epoch)}", unit = Path.Combine(source.Folder, relative);
                if (Directory.Exists(unit) && SameKey(source, key, log) && CopyUnit(source, relative, folder, epoch, log) is { } history)
                {
                    copied[epoch] = (unit, history);
                    break;
                }
            }
        return copied;
    }

    /// <summary>Copies one earlier unit into <paramref name="folder"/> and commits the copy if it verifies.</summary>
    static List<EpochRecord>? CopyUnit(EarlierOutput source, string relative, string folder, int epoch, ILogger log)
    {
        string from = Path.Combine(source.Folder, relative), unit = Path.Combine(folder, UnitFolder(epoch));
        string partial = StartPartial(unit);
        List<EpochRecord>? history = null;
        try
        {
            foreach (var file in UnitFiles.Append(ManifestFile))
            {
                File.Copy(Path.Combine(from, file), Path.Combine(partial, file));
                CrashHook.Point("checkpoint");
            }
            history = Verify(partial, relative, source.RecordedSha256, epoch);
        }
        catch (Exception e) when (e is UnitException or IOException)
        {
            log.Warning("discarding checkpoint {Unit}: {Problem}", from, e.Message);
        }
        if (history is null)
        {
            Directory.Delete(partial, recursive: true);
            return null;
        }
        Commit(partial, unit);
        return history;
    }

    /// <summary>
    /// Whether the folder's checkpoints were made under <paramref name="key"/>: as its record says, else as its key file
    /// says. Checkpoints made with other settings or code are not a problem, just not ours; a folder that tells no key is
    /// not resumed.
    /// </summary>
    static bool SameKey(EarlierOutput source, string key, ILogger log)
    {
        if (source.RecordedKey is not null) return source.RecordedKey == key;
        string file = Path.Combine(source.Folder, CheckpointsFolder, KeyFile);
        try
        {
            return File.Exists(file) && File.ReadAllText(file) == key;
        }
        catch (IOException e)
        {
            log.Warning("not resuming from {Folder}: its {File} is unreadable ({Message})", source.Folder, KeyFile, e.Message);
            return false;
        }
    }

    static UnitManifest ReadManifest(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<UnitManifest>(File.ReadAllText(path), CanonicalJson.Options) is { Sha256: not null } manifest
                ? manifest : throw new UnitException($"{ManifestFile} is incomplete");
        }
        catch (JsonException e)
        {
            throw new UnitException($"{ManifestFile} is unreadable ({e.Message})");
        }
    }

    /// <summary>
    /// Checks a copied unit: every file against the stage record when the earlier folder has one (the manifest too),
    /// then against the manifest; the history must run from epoch 1 to the unit's epoch. Returns the history.
    /// </summary>
    static List<EpochRecord> Verify(string unit, string relative, IReadOnlyDictionary<string, string>? recorded, int epoch)
    {
        var hashes = UnitFiles.Append(ManifestFile).ToDictionary(f => f, f => ContentHash.OfFile(Path.Combine(unit, f)));
        if (recorded is not null)
            foreach (var (file, hash) in hashes)
            {
                if (!recorded.TryGetValue($"{relative}/{file}", out var expected))
                    throw new UnitException($"{file} is not in the stage record");
                if (expected != hash)
                    throw new UnitException($"{file} has SHA-256 {hash}, the stage record says {expected}");
            }
        var manifest = ReadManifest(Path.Combine(unit, ManifestFile));
        if (manifest.Epoch != epoch)
            throw new UnitException($"its manifest is for epoch {manifest.Epoch}");
        foreach (var file in UnitFiles)
        {
            if (!manifest.Sha256.TryGetValue(file, out var expected))
                throw new UnitException($"{file} is not in its manifest");
            if (expected != hashes[file])
                throw new UnitException($"{file} has SHA-256 {hashes[file]}, its manifest says {expected}");
        }
        List<EpochRecord> history;
        try
        {
            history = ReadHistory(Path.Combine(unit, HistoryFile));
        }
        catch (Exception e) when (e is JsonException or StageException)
        {
            throw new UnitException($"{HistoryFile} is unreadable ({e.Message})");
        }
        if (!history.Select(h => h.Epoch).SequenceEqual(Enumerable.Range(1, epoch)))
            throw new UnitException($"its history covers epochs [{string.Join(", ", history.Select(h => h.Epoch))}], not 1 to {epoch}");
        return history;
    }

    /// <summary>Why a checkpoint unit cannot be used.</summary>
    sealed class UnitException(string message) : Exception(message);
}
