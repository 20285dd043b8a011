using Pipeline.Stages;
using Pipeline.Training;
using Serilog;
using Serilog.Core;
using Serilog.Events;

// Usage: TrainProbe <artifacts> <epochs>
// Runs a "train" stage as the Train task does (TrainingStage on the stage engine): the logistic head on
// ProbeTraining's features, one thread. PIPELINE_CRASH_AT=checkpoint#N (CrashHook) makes it kill itself mid-checkpoint.
var store = new ArtifactStore(args[0]);
var parameters = ProbeTraining.Parameters(int.Parse(args[1]));
var definition = new StageDefinition("train", parameters) { ResumeParameters = CanonicalJson.ToNode(parameters with { Epochs = 0 }) };
var log = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(new StdoutSink()).CreateLogger();
await store.RunAsync(definition, (workspace, cancellation) =>
{
    TrainingStage.Prepare(parameters, ArtifactStore.CacheFolder(store.Root), workspace);
    using var train = ProbeTraining.Features(400, seed: 1);
    using var validation = ProbeTraining.Features(100, seed: 2);
    TrainingStage.Run(parameters, new TrainingData(train, validation, ProbeTraining.Classes, train.ExampleShape),
        [.. Enumerable.Range(0, ProbeTraining.Classes).Select(c => c.ToString())], workspace, log, cancellation);
    return Task.CompletedTask;
});
Console.WriteLine("done");

/// <summary>A tiny training run that takes well under a second per epoch.</summary>
public static class ProbeTraining
{
    public const int Classes = 10, Dim = 16;

    public static TrainParameters Parameters(int epochs) => new()
    {
        Model = "logistic", Epochs = epochs, BatchSize = 32, LearningRate = 0.01, LearningRateDecay = 0.9, Seed = 3, Threads = 1, MklIntelPath = false,
    };

    /// <summary>Seeded Gaussian clusters, one per class, so the head has something to learn.</summary>
    public static LabelledTensors Features(int count, int seed)
    {
        var centres = new Random(0);
        var centre = Enumerable.Range(0, Classes * Dim).Select(_ => (float)(centres.NextDouble() * 2 - 1)).ToArray();
        var random = new Random(seed);
        var features = new float[count * Dim];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(i % Classes);
            for (int d = 0; d < Dim; d++)
                features[i * Dim + d] = centre[labels[i] * Dim + d] + (float)(random.NextDouble() - 0.5);
        }
        return LabelledTensors.FromFeatures(features, Dim, labels);
    }
}

sealed class StdoutSink : ILogEventSink
{
    public void Emit(LogEvent logEvent) => Console.WriteLine($"{logEvent.Level}: {logEvent.RenderMessage()}");
}
