using System.Text.Json;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Pipeline.Training.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// <c>model.json</c> beside <c>model.pt</c>: what is needed to rebuild the network and read its outputs, so a
/// trained model can be loaded without the parameters file that made it.
/// </summary>
public sealed record TrainedModel(string Model, IReadOnlyList<string> Classes, long[] InputShape, long Parameters)
{
    public const string FileName = "model.json";

    public void Save(string directory) => CanonicalJson.WriteFile(Path.Combine(directory, FileName), this);

    public static TrainedModel Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new StageException($"{path} not found: run the Train stage first");
        return JsonSerializer.Deserialize<TrainedModel>(File.ReadAllText(path), CanonicalJson.Options)
            ?? throw new StageException($"{path}: empty");
    }

    /// <summary>The network with the trained weights of <paramref name="directory"/>, in eval mode.</summary>
    public Sequential Open(string directory)
    {
        var network = ModelCatalog.Create(Model, Classes.Count, InputShape);
        network.load(Path.Combine(directory, CheckpointedTraining.WeightsFile));
        network.eval();
        return network;
    }

    /// <summary>Class probabilities (softmax), row-major <c>Count × classes</c>.</summary>
    public static float[] Probabilities(Sequential network, ExampleSource data)
    {
        var all = new List<float>();
        Probabilities(network, data, (probabilities, _) => all.AddRange(probabilities));
        return [.. all];
    }

    /// <summary>Class probabilities batch by batch: <paramref name="onBatch"/> gets <c>count × classes</c> of them and the batch.</summary>
    public static void Probabilities(Sequential network, ExampleSource data, ProbabilitiesHandler onBatch) =>
        Predictor.Score(network, data, (logits, batch) =>
        {
            using var probabilities = logits.softmax(1);
            onBatch(probabilities.data<float>().ToArray(), batch);
        });

    public delegate void ProbabilitiesHandler(ReadOnlySpan<float> probabilities, BatchLoader.Batch batch);
}
