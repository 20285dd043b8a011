// A quick linear probe for bench/featurize.sh: softmax regression (Adam, mini-batches) on standardised features of the
// train split, the epoch chosen on validation, accuracy on test. Prints one JSON line. Only to compare input sizes;
// the pipeline's own classifier head is trained in the Train stage.
// Usage: FeaturizeProbe <features folder> [epochs]
//        FeaturizeProbe inputs <verify folder> <backbone.onnx> <input size> <images> <out folder>
//          writes what bench/compare.sh's featurize peer runs: the stage's featurizer graph (featurizer.onnx) and the
//          first <images> training images preprocessed as the stage does (inputs.f32, NCHW float32)
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using Pipeline.Acquisition;
using Pipeline.Features;

if (args is ["inputs", var verified, var backbone, var sizeText, var imagesText, var outFolder])
{
    Directory.CreateDirectory(outFolder);
    File.WriteAllBytes(Path.Combine(outFolder, "featurizer.onnx"), FeaturizerGraph.FromClassifier(File.ReadAllBytes(backbone), Path.GetFileName(backbone)).Model);
    var dataset = VerifiedDataset.Load(verified);
    using var split = dataset.LoadSplit(verified, "train");
    int size = int.Parse(sizeText), images = Math.Min(int.Parse(imagesText), split.Count);
    var preprocessor = new ImagePreprocessor(dataset.Rows, dataset.Columns, size, dataset.Channels);
    var pixels = new byte[split.ImageSize];
    var tensor = new float[preprocessor.TensorLength];
    using var output = File.Create(Path.Combine(outFolder, "inputs.f32"));
    for (int i = 0; i < images; i++)
    {
        split.Read(i, 1, pixels);
        preprocessor.Write(pixels, tensor);
        output.Write(MemoryMarshal.AsBytes(tensor.AsSpan()));
    }
    return;
}

string folder = args.Length > 0 ? args[0] : "artifacts/featurize";
var set = FeatureSet.Load(folder);
int epochs = args.Length > 1 ? int.Parse(args[1]) : 15;
var clock = Stopwatch.StartNew();
var (train, validation, test) = (set["train"], set["validation"], set["test"]);
int dim = train.Dim, classes = set.Manifest.Classes.Count;

// Standardise with the training split's mean and spread, so one learning rate suits every feature.
var mean = new float[dim];
var scale = new float[dim];
for (int i = 0; i < train.Count; i++) TensorPrimitives.Add(mean, train.Row(i), mean);
TensorPrimitives.Divide(mean, train.Count, mean);
var centred = new float[dim];
for (int i = 0; i < train.Count; i++)
{
    TensorPrimitives.Subtract(train.Row(i), mean, centred);
    TensorPrimitives.MultiplyAdd(centred, centred, scale, scale);
}
for (int j = 0; j < dim; j++) scale[j] = 1 / MathF.Sqrt(scale[j] / train.Count + 1e-6f);
float[] Standardise(FeatureSplit split)
{
    var x = new float[split.Features.Length];
    for (int i = 0; i < split.Count; i++)
    {
        var row = x.AsSpan(i * dim, dim);
        TensorPrimitives.Subtract(split.Row(i), mean, row);
        TensorPrimitives.Multiply(row, scale, row);
    }
    return x;
}
var (xTrain, xValidation, xTest) = (Standardise(train), Standardise(validation), Standardise(test));

var weights = new float[classes * dim];
var bias = new float[classes];
var (mW, vW, mB, vB) = (new float[weights.Length], new float[weights.Length], new float[classes], new float[classes]);
const float LearningRate = 1e-3f, Beta1 = 0.9f, Beta2 = 0.999f, Decay = 1e-4f;
const int Batch = 128;
var order = Enumerable.Range(0, train.Count).ToArray();
var random = new Random(1);
int step = 0;
var (bestWeights, bestBias, bestValidation, bestEpoch) = ((float[])weights.Clone(), (float[])bias.Clone(), -1.0, 0);
var gW = new float[weights.Length];
var gB = new float[classes];
var p = new float[classes];
for (int epoch = 1; epoch <= epochs; epoch++)
{
    random.Shuffle(order);
    for (int start = 0; start < order.Length; start += Batch)
    {
        int count = Math.Min(Batch, order.Length - start);
        Array.Clear(gW);
        Array.Clear(gB);
        for (int b = 0; b < count; b++)
        {
            int i = order[start + b];
            var x = xTrain.AsSpan(i * dim, dim);
            Probabilities(x, p);
            p[train.Labels[i]] -= 1;
            for (int c = 0; c < classes; c++)
            {
                TensorPrimitives.MultiplyAdd(x, p[c] / count, gW.AsSpan(c * dim, dim), gW.AsSpan(c * dim, dim));
                gB[c] += p[c] / count;
            }
        }
        TensorPrimitives.MultiplyAdd(weights, Decay, gW, gW);
        step++;
        Adam(weights, gW, mW, vW);
        Adam(bias, gB, mB, vB);
    }
    double accuracy = Accuracy(xValidation, validation.Labels);
    if (accuracy > bestValidation)
        (bestWeights, bestBias, bestValidation, bestEpoch) = ((float[])weights.Clone(), (float[])bias.Clone(), accuracy, epoch);
}
(weights, bias) = (bestWeights, bestBias);
double testAccuracy = Accuracy(xTest, test.Labels);
Console.WriteLine(JsonSerializer.Serialize(new
{
    input_size = set.Manifest.InputSize,
    featurize_seconds = Pipeline.Stages.StageRecord.TryRead(folder)?.Metrics.GetValueOrDefault("seconds")?.GetValue<double>(),
    images = set.Manifest.Splits.Values.Sum(s => s.Count),
    probe = $"softmax regression, Adam, {epochs} epochs",
    best_epoch = bestEpoch,
    validation_accuracy = Math.Round(bestValidation, 4),
    test_accuracy = Math.Round(testAccuracy, 4),
    probe_seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
}));

void Probabilities(ReadOnlySpan<float> x, Span<float> probabilities)
{
    for (int c = 0; c < classes; c++) probabilities[c] = TensorPrimitives.Dot(x, weights.AsSpan(c * dim, dim)) + bias[c];
    TensorPrimitives.SoftMax(probabilities, probabilities);
}

double Accuracy(float[] x, byte[] labels)
{
    var scores = new float[classes];
    int right = 0;
    for (int i = 0; i < labels.Length; i++)
    {
        Probabilities(x.AsSpan(i * dim, dim), scores);
        if (TensorPrimitives.IndexOfMax(scores) == labels[i]) right++;
    }
    return (double)right / labels.Length;
}

void Adam(float[] parameters, float[] gradient, float[] m, float[] v)
{
    float correction1 = 1 - MathF.Pow(Beta1, step), correction2 = 1 - MathF.Pow(Beta2, step);
    for (int k = 0; k < parameters.Length; k++)
    {
        m[k] = Beta1 * m[k] + (1 - Beta1) * gradient[k];
        v[k] = Beta2 * v[k] + (1 - Beta2) * gradient[k] * gradient[k];
        parameters[k] -= LearningRate * (m[k] / correction1) / (MathF.Sqrt(v[k] / correction2) + 1e-8f);
    }
}
