using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Pipeline.Acquisition;
using Pipeline.Features;
using Pipeline.Onnx;
using Pipeline.Training;
using Pipeline.Training.Models;
using Pipeline.Training.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pipeline.Tests;

[Trait("Category", "Integration")]
public class OnnxExportTests(ITestOutputHelper output) : IDisposable
{
    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    static readonly long[] ImageShape = [1, 28, 28];

    /// <summary>Real MNIST from the offline mirror, read once: the whole test split and the training split.</summary>
    static readonly Lazy<(ImageSplit Train, ImageSplit Test)> Mnist = new(() => (Read("train", "train"), Read("test", "t10k")));

    static ImageSplit Read(string name, string prefix)
    {
        var images = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, $"{prefix}-images-idx3-ubyte.gz")), 3);
        var labels = Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, $"{prefix}-labels-idx1-ubyte.gz")), 1);
        return new ImageSplit(name, images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2]);
    }

    static ImageSplit First(ImageSplit split, int count) =>
        new(split.Name, split.Images[..(count * split.ImageSize)], split.Labels[..count], split.Rows, split.Columns);

    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static TrainParameters Brief(string model) =>
        new() { Model = model, Epochs = 1, BatchSize = 50, LearningRate = 1e-3, Seed = 11, MklIntelPath = false };

    /// <summary>A model trained for one epoch on <paramref name="train"/>: real weights and batch-norm statistics.</summary>
    static Trainer TrainBriefly(string model, LabelledTensors train, LabelledTensors validation)
    {
        var trainer = new Trainer(Brief(model), 10, train.ExampleShape);
        trainer.TrainEpoch(1, train, validation);
        return trainer;
    }

    /// <summary>Runs <paramref name="path"/> in ONNX Runtime on the examples in batches; returns (logits, probabilities).</summary>
    static (float[] Logits, float[] Probabilities) RunOnnx(string path, string input, Tensor examples, int batchSize = 1000)
    {
        using var session = new InferenceSession(path);
        int count = (int)examples.shape[0], classes = 10;
        long[] exampleShape = examples.shape[1..];
        int exampleLength = (int)exampleShape.Aggregate(1L, (a, b) => a * b);
        float[] all = examples.contiguous().data<float>().ToArray(), logits = new float[count * classes], probabilities = new float[count * classes];
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            using var tensor = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                all.AsMemory(start * exampleLength, n * exampleLength), [n, .. exampleShape]);
            using var results = session.Run(new RunOptions(), [input], [tensor], [ClassifierOnnx.LogitsOutput, ClassifierOnnx.ProbabilitiesOutput]);
            results[0].GetTensorDataAsSpan<float>().CopyTo(logits.AsSpan(start * classes));
            results[1].GetTensorDataAsSpan<float>().CopyTo(probabilities.AsSpan(start * classes));
        }
        return (logits, probabilities);
    }

    /// <summary>TorchSharp's eval-mode (logits, probabilities) for the examples.</summary>
    static (float[] Logits, float[] Probabilities) RunTorch(nn.Module<Tensor, Tensor> model, Tensor examples)
    {
        using var logits = Predictor.Logits(model, examples);
        using var probabilities = logits.softmax(1);
        return (logits.data<float>().ToArray(), probabilities.data<float>().ToArray());
    }

    /// <summary>Asserts ≤ 1e-5 between the probabilities and the same argmax for every example; returns the figures.</summary>
    string AssertSame(string model, (float[] Logits, float[] Probabilities) torch, (float[] Logits, float[] Probabilities) onnx, byte[] labels)
    {
        Assert.Equal(torch.Probabilities.Length, onnx.Probabilities.Length);
        float maxProbability = 0, maxLogit = 0;
        int count = labels.Length, correct = 0;
        for (int i = 0; i < torch.Probabilities.Length; i++)
        {
            maxProbability = Math.Max(maxProbability, Math.Abs(torch.Probabilities[i] - onnx.Probabilities[i]));
            maxLogit = Math.Max(maxLogit, Math.Abs(torch.Logits[i] - onnx.Logits[i]));
        }
        for (int i = 0; i < count; i++)
        {
            int expected = ArgMax(torch.Probabilities.AsSpan(i * 10, 10)), actual = ArgMax(onnx.Probabilities.AsSpan(i * 10, 10));
            Assert.True(expected == actual, $"{model}: example {i}: TorchSharp says {expected}, ONNX Runtime {actual}");
            if (actual == labels[i]) correct++;
        }
        string figures = $"{model}: {count:N0} examples, max |Δ probability| {maxProbability:E2}, max |Δ logit| {maxLogit:E2}, "
            + $"same argmax for all, accuracy {(double)correct / count:P2}";
        output.WriteLine(figures);
        Assert.True(maxProbability <= 1e-5f, figures);
        return figures;
    }

    static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("compact")]
    [InlineData("strided")]
    public void An_exported_CNN_gives_TorchSharps_outputs_on_the_whole_mnist_test_split(string model)
    {
        var (train, test) = Mnist.Value;
        using var trainSet = LabelledTensors.From(First(train, 2000));
        using var validation = LabelledTensors.From(First(train, 100));
        using var testSet = LabelledTensors.From(test);
        var clock = Stopwatch.StartNew();
        using var trainer = TrainBriefly(model, trainSet, validation);
        output.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s");
        string path = temp[$"{model}.onnx"];
        clock.Restart();
        OnnxExport.Export(trainer.Model, model, ImageShape, Digits, OnnxPreprocessing.GrayPixels, path);
        output.WriteLine($"exported in {clock.Elapsed.TotalSeconds:F1} s ({new FileInfo(path).Length:N0} bytes)");

        clock.Restart();
        var expected = RunTorch(trainer.Model, testSet.Images);
        output.WriteLine($"TorchSharp in {clock.Elapsed.TotalSeconds:F1} s");
        clock.Restart();
        var actual = RunOnnx(path, ClassifierOnnx.ImagesInput, testSet.Images);
        output.WriteLine($"ONNX Runtime in {clock.Elapsed.TotalSeconds:F1} s");
        AssertSame(model, expected, actual, test.Labels);
        Assert.True(trainer.Model.training, "export leaves the module's mode as it was");
    }

    [Theory]
    [InlineData("logistic")]
    [InlineData("mlp")]
    public void An_exported_head_gives_TorchSharps_outputs_on_features_of_real_digits(string head)
    {
        var (train, test) = Mnist.Value;
        using var featurizer = Featurizer.Load(TestHost.Required(Path.Combine(TestHost.ModelsMirror, "mobilenetv2-12-int8.onnx")));
        using var trainSet = Featurize(featurizer, First(train, 2000));
        using var testSet = Featurize(featurizer, First(test, 2000));
        using var trainer = TrainBriefly(head, trainSet, testSet);
        string path = temp[$"{head}.onnx"];
        OnnxExport.Export(trainer.Model, head, [featurizer.Dim], Digits, OnnxPreprocessing.Features("MobileNetV2 features at 64×64"), path);

        byte[] labels = [.. testSet.Labels.data<long>().ToArray().Select(l => (byte)l)];
        AssertSame(head, RunTorch(trainer.Model, testSet.Images), RunOnnx(path, ClassifierOnnx.FeaturesInput, testSet.Images), labels);
    }

    [Fact]
    public void The_transfer_model_as_one_file_runs_on_the_images_as_the_CNNs_take_them()
    {
        var (train, test) = Mnist.Value;
        string zoo = TestHost.Required(Path.Combine(TestHost.ModelsMirror, "mobilenetv2-12-int8.onnx"));
        using var featurizer = Featurizer.Load(zoo);
        using var trainSet = Featurize(featurizer, First(train, 2000));
        var images = First(test, 2000);
        using var testSet = Featurize(featurizer, images);
        using var trainer = TrainBriefly("logistic", trainSet, testSet);
        byte[] head = OnnxExport.ToBytes(trainer.Model, "logistic", [featurizer.Dim], Digits, OnnxPreprocessing.Features("MobileNetV2 at 64×64"));
        string path = temp["transfer.onnx"];
        File.WriteAllBytes(path, TransferGraph.Combine(File.ReadAllBytes(zoo), Path.GetFileName(zoo), 1, 28, 28, 64, head));

        // The pipeline's way (ImagePreprocessor, the featurizer, the head in TorchSharp) against the one file on pixels / 255.
        using var pixels = LabelledTensors.From(images);
        AssertSame("transfer (one file)", RunTorch(trainer.Model, testSet.Images), RunOnnx(path, ClassifierOnnx.ImagesInput, pixels.Images), images.Labels);

        using var session = new InferenceSession(path);
        Assert.Equal([-1, 1, 28, 28], session.InputMetadata[ClassifierOnnx.ImagesInput].Dimensions);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("""["0","1","2","3","4","5","6","7","8","9"]""", metadata["classes"]);
        Assert.Equal("NCHW", metadata["input_layout"]);
        Assert.Contains("resize to 64×64", metadata["preprocessing"]);
        CheckModels([path]);

        using var imageModel = nn.Sequential(("flatten", nn.Flatten()), ("dense", nn.Linear(784, 10)));
        byte[] notAHead = OnnxExport.ToBytes(imageModel, "flat", ImageShape, Digits, OnnxPreprocessing.GrayPixels);
        var error = Assert.Throws<FeaturizeException>(() => TransferGraph.Combine(File.ReadAllBytes(zoo), Path.GetFileName(zoo), 1, 28, 28, 64, notAHead));
        Assert.Equal("the head's inputs are [images], expected [features] (a head exported alone)", error.Message);
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("compact")]
    [InlineData("strided")]
    [InlineData("pooled")]
    public void An_exported_CNN_on_colour_images_takes_N_3_H_W_and_gives_TorchSharps_outputs(string model)
    {
        using var trainSet = LabelledTensors.From(ColourData.Split("train", 1000, first: 0, rows: 32, columns: 32));
        var test = ColourData.Split("test", 500, first: 5000);
        using var testSet = LabelledTensors.From(test);
        using var trainer = TrainBriefly(model, trainSet, trainSet);
        string path = temp[$"{model}-rgb.onnx"];
        OnnxExport.Export(trainer.Model, model, [3, 32, 32], Digits, OnnxPreprocessing.Pixels(3), path);

        AssertSame($"{model} 3×32×32", RunTorch(trainer.Model, testSet.Images), RunOnnx(path, ClassifierOnnx.ImagesInput, testSet.Images), test.Labels);
        using var session = new InferenceSession(path);
        Assert.Equal([-1, 3, 32, 32], session.InputMetadata[ClassifierOnnx.ImagesInput].Dimensions);
        Assert.Contains("RGB", session.ModelMetadata.CustomMetadataMap["preprocessing"]);
        CheckModels([path]);
    }

    [Fact]
    public void The_transfer_model_on_colour_images_is_one_file_taking_N_3_H_W()
    {
        string zoo = TestHost.Required(Path.Combine(TestHost.ModelsMirror, "mobilenetv2-12-int8.onnx"));
        using var featurizer = Featurizer.Load(zoo);
        var train = ColourData.Split("train", 600, rows: 32, columns: 36);
        var test = ColourData.Split("test", 300, first: 5000, rows: 32, columns: 36);
        using var trainSet = Featurize(featurizer, train);
        using var testSet = Featurize(featurizer, test);
        using var trainer = TrainBriefly("logistic", trainSet, testSet);
        byte[] head = OnnxExport.ToBytes(trainer.Model, "logistic", [featurizer.Dim], Digits, OnnxPreprocessing.Features("MobileNetV2 at 64×64"));
        string path = temp["transfer-rgb.onnx"];
        File.WriteAllBytes(path, TransferGraph.Combine(File.ReadAllBytes(zoo), Path.GetFileName(zoo), 3, 32, 36, 64, head));

        using var pixels = LabelledTensors.From(test);
        AssertSame("transfer 3×32×36 (one file)", RunTorch(trainer.Model, testSet.Images), RunOnnx(path, ClassifierOnnx.ImagesInput, pixels.Images), test.Labels);
        using var session = new InferenceSession(path);
        Assert.Equal([-1, 3, 32, 36], session.InputMetadata[ClassifierOnnx.ImagesInput].Dimensions);
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("images [N, 3, 32, 36] float32", metadata["input"]);
        Assert.StartsWith("RGB pixel bytes / 255", metadata["preprocessing"]);
        Assert.DoesNotContain("gray", metadata["preprocessing"]);
        CheckModels([path]);
    }

    static LabelledTensors Featurize(Featurizer featurizer, ImageSplit split, int size = 64)
    {
        var preprocessor = new ImagePreprocessor(split.Rows, split.Columns, size, split.Channels);
        var features = new float[split.Count * featurizer.Dim];
        const int batchSize = 100;
        var batch = new float[batchSize * preprocessor.TensorLength];
        for (int start = 0; start < split.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, split.Count - start);
            for (int i = 0; i < n; i++)
                preprocessor.Write(split.Image(start + i), batch.AsSpan(i * preprocessor.TensorLength, preprocessor.TensorLength));
            featurizer.Run(batch, n, size, features.AsMemory(start * featurizer.Dim, n * featurizer.Dim));
        }
        return LabelledTensors.FromFeatures(features, featurizer.Dim, split.Labels);
    }

    [Fact]
    public void The_file_declares_its_input_outputs_opset_classes_and_preprocessing()
    {
        random.manual_seed(5);
        using var model = ModelCatalog.Create("compact", 10, ImageShape);
        string path = temp["compact.onnx"];
        OnnxExport.Export(model, "compact", ImageShape, Digits, OnnxPreprocessing.GrayPixels, path);
        Assert.Equal(File.ReadAllBytes(path), OnnxExport.ToBytes(model, "compact", ImageShape, Digits, OnnxPreprocessing.GrayPixels)); // deterministic

        using var session = new InferenceSession(path);
        var input = Assert.Single(session.InputMetadata);
        Assert.Equal("images", input.Key);
        Assert.Equal([-1, 1, 28, 28], input.Value.Dimensions);
        Assert.Equal(["N", "", "", ""], input.Value.SymbolicDimensions);
        Assert.Equal(typeof(float), input.Value.ElementType);
        Assert.Equal(["logits", "probabilities"], session.OutputMetadata.Keys);
        Assert.All(session.OutputMetadata.Values, o => Assert.Equal([-1, 10], o.Dimensions));

        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("""["0","1","2","3","4","5","6","7","8","9"]""", metadata["classes"]);
        Assert.Equal("compact", metadata["model"]);
        Assert.Equal("NCHW", metadata["input_layout"]);
        Assert.Equal(1.0 / 255, double.Parse(metadata["input_scale"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("/ 255", metadata["preprocessing"]);
        Assert.Equal("Pipeline.Training", session.ModelMetadata.ProducerName);

        var file = WireMessage.Parse(File.ReadAllBytes(path));
        Assert.Equal(7, file.First(OnnxProto.ModelFields.IrVersion)!.Int64);
        var opset = file.First(OnnxProto.ModelFields.OpsetImport)!.Message;
        Assert.Equal(13, opset.First(OnnxProto.OpsetFields.Version)!.Int64);
        var ops = file.First(OnnxProto.ModelFields.Graph)!.Message.All(OnnxProto.GraphFields.Node)
            .Select(n => n.Message.First(OnnxProto.NodeFields.OpType)!.Text).ToList();
        // Eval mode: batch-norm with its statistics, no dropout.
        Assert.Equal(["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "BatchNormalization", "Relu", "MaxPool",
            "Conv", "BatchNormalization", "Relu", "Flatten", "Gemm", "Softmax"], ops);
    }

    [Fact]
    public void A_layer_the_exporter_does_not_know_is_named_with_its_model()
    {
        using var model = nn.Sequential(("flatten", nn.Flatten()), ("dense", nn.Linear(784, 10)), ("gelu", nn.GELU()));
        var error = Assert.Throws<OnnxExportException>(() => OnnxExport.ToBytes(model, "custom", ImageShape, Digits, OnnxPreprocessing.GrayPixels));
        Assert.StartsWith("cannot export layer 'gelu' (GELU) of model 'custom' to ONNX yet", error.Message);

        using var pooled = nn.Sequential(("pool", nn.MaxPool2d(2, ceil_mode: true)), ("flatten", nn.Flatten()), ("dense", nn.Linear(196, 10)));
        error = Assert.Throws<OnnxExportException>(() => OnnxExport.ToBytes(pooled, "pooled", ImageShape, Digits, OnnxPreprocessing.GrayPixels));
        Assert.StartsWith("cannot export layer 'pool' (MaxPool2d with ceil_mode) of model 'pooled'", error.Message);

        using var reference = ModelCatalog.Create("reference", 10, ImageShape);
        error = Assert.Throws<OnnxExportException>(() => OnnxExport.ToBytes(reference, "reference", ImageShape, ["a", "b"], OnnxPreprocessing.GrayPixels));
        Assert.Contains("not one logit for each of the 2 classes", error.Message);
    }

    /// <summary>Debian's python3-onnx; /usr/bin/python3 on purpose (the python3 on PATH may be another install without it).</summary>
    internal const string Python = "/usr/bin/python3";

    [Fact]
    public void Every_catalog_model_passes_the_onnx_checker_with_full_check()
    {
        var files = new List<string>();
        foreach (var name in ModelCatalog.ImageModels.Keys.Concat(ModelCatalog.Heads.Keys))
        {
            random.manual_seed(3);
            bool head = ModelCatalog.Heads.ContainsKey(name);
            long[] shape = head ? [1280] : ImageShape; // a head on MobileNetV2's features
            using var model = ModelCatalog.Create(name, 10, shape);
            string path = temp[$"{name}.onnx"];
            OnnxExport.Export(model, name, shape, Digits, head ? OnnxPreprocessing.Features("MobileNetV2") : OnnxPreprocessing.GrayPixels, path);
            files.Add(path);
        }
        CheckModels(files);
    }

    /// <summary>onnx.checker.check_model(onnx.load(path), full_check=True) on each file, in Debian's python3-onnx.</summary>
    static void CheckModels(IReadOnlyList<string> files)
    {
        const string script = """
            import sys
            try:
                import onnx
            except ImportError:
                sys.exit("NO-ONNX")
            for path in sys.argv[1:]:
                onnx.checker.check_model(onnx.load(path), full_check=True)
                print("ok", path)
            """;
        var (exit, stdout, stderr) = RunPython(script, files);
        Assert.False(stderr.Contains("NO-ONNX"), $"{Python} has no onnx module: install Debian's python3-onnx (run ./test.sh, which installs it: apt-get install -y python3-onnx)");
        Assert.True(exit == 0, $"onnx.checker failed (exit {exit}):\n{stdout}\n{stderr}");
        Assert.Equal(files.Count, stdout.Split('\n').Count(l => l.StartsWith("ok ")));
    }

    internal static (int Exit, string Stdout, string Stderr) RunPython(string script, IEnumerable<string> arguments)
    {
        if (!File.Exists(Python))
            throw new FileNotFoundException($"{Python} is missing: install Debian's python3, python3-onnx and python3-pil (run ./test.sh, which installs them: apt-get install -y python3-onnx python3-pil)", Python);
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }
}
