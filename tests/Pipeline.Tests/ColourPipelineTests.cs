using Microsoft.ML.OnnxRuntime;
using Pipeline.Acquisition;
using Pipeline.Evaluation;
using Pipeline.Imaging;
using Pipeline.Onnx;
using Pipeline.Prediction;
using Pipeline.Stages;
using Pipeline.Training;
using SkiaSharp;

namespace Pipeline.Tests;

/// <summary>RGB images of 3×32×32 through the real Train, Evaluate and Predict stages, as the host runs them.</summary>
[Collection(TorchCollection.Name)]
[Trait("Category", "Integration")]
public class ColourPipelineTests : IDisposable
{
    static readonly string[] Digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>The pixel of a contact sheet at (x, y) of tile <paramref name="tile"/> (sheets of ten columns).</summary>
    static (byte, byte, byte) SheetPixel(SKBitmap sheet, int tile, int scale, int x, int y)
    {
        int left = ContactSheet.Gap + tile % 10 * (32 * scale + ContactSheet.Gap);
        int top = ContactSheet.Gap + tile / 10 * (32 * scale + ContactSheet.CaptionHeight + ContactSheet.Gap);
        var pixel = sheet.GetPixel(left + scale * x + scale / 2, top + scale * y + scale / 2);
        return (pixel.Red, pixel.Green, pixel.Blue);
    }

    static (byte, byte, byte) ImagePixel(ReadOnlySpan<byte> image, int x, int y) =>
        (image[y * 32 + x], image[1024 + y * 32 + x], image[2048 + y * 32 + x]);

    [Fact]
    public async Task Train_evaluate_and_predict_take_RGB_images_and_show_them_in_colour()
    {
        var store = new ArtifactStore(temp["artifacts"]);
        await store.RunAsync(new StageDefinition("verify", new { colour = 32 }), (w, _) =>
        {
            ColourData.Write(w.Directory, perSplit: 300);
            return Task.CompletedTask;
        });
        var context = TestStages.Context(store, TestStages.Parameters("train.epochs=1", "train.batch_size=50", "train.mkl_intel_path=false",
            "augment.join_training=false", "transfer.enabled=false"));

        // Train: the reference model on 3×32×32, recorded as such; its ONNX file takes N×3×32×32.
        await TestStages.Run(TrainStage.Instance, context);
        string trained = store.StageDirectory("train");
        var card = TrainedModel.Load(trained);
        Assert.Equal([3L, 32, 32], card.InputShape);
        Assert.Equal(3 * 9 * 32 + 32 + 32 * 30 * 30 * 128 + 128 + 128 * 10 + 10, card.Parameters);
        using (var session = new InferenceSession(Path.Combine(trained, TrainingStage.OnnxFile)))
            Assert.Equal([-1, 3, 32, 32], session.InputMetadata[ClassifierOnnx.ImagesInput].Dimensions);

        // Evaluate: the gallery of mistakes shows each test image in its colours.
        await TestStages.Run(EvaluateStage.Instance, context);
        var verified = VerifiedDataset.Load(store.StageDirectory("verify"));
        var test = verified.LoadSplit(store.StageDirectory("verify"), "test");
        float[] probabilities;
        using (var network = card.Open(trained))
        using (var data = LabelledTensors.From(test))
            probabilities = TrainedModel.Probabilities(network, data);
        var predicted = Predictions.ArgMax(probabilities, 10);
        var mistakes = Enumerable.Range(0, test.Count).Where(i => predicted[i] != test.Labels[i]).Take(3).ToList();
        Assert.NotEmpty(mistakes);
        using (var gallery = SKBitmap.Decode(Path.Combine(store.StageDirectory("evaluate"), "misclassified.png")))
            for (int k = 0; k < mistakes.Count; k++)
                for (int y = 0; y < 32; y += 3)
                    for (int x = 0; x < 32; x += 3)
                        Assert.Equal(ImagePixel(test.Image(mistakes[k]), x, y), SheetPixel(gallery, k, 3, x, y));

        // Predict: RGB PNG files (as Export writes them) through model.onnx give TorchSharp's answers; the sheet is in colour.
        // Framing off: these synthetic images are not all within the training spread, and framing is tested on its own.
        for (int i = 0; i < 20; i++)
        {
            Directory.CreateDirectory(temp[Path.Combine("own", $"{test.Labels[i]}")]);
            File.WriteAllBytes(temp[Path.Combine("own", $"{test.Labels[i]}", $"{i:D5}.png")], Png.Encode(test.Image(i), 32, 32, 3));
        }
        var predict = TestStages.Context(store, TestStages.Parameters("transfer.enabled=false", "predict.framing=none",
            $"predict.images={System.Text.Json.JsonSerializer.Serialize(new[] { temp["own"] })}"));
        await TestStages.Run(PredictStage.Instance, predict);
        var rows = File.ReadAllLines(Path.Combine(store.StageDirectory("predict"), PredictStage.CsvFile))[1..].Select(l => l.Split(',')).ToList();
        Assert.Equal(20, rows.Count);
        var shown = new List<int>();
        foreach (var row in rows)
        {
            int index = int.Parse(Path.GetFileNameWithoutExtension(row[0]));
            shown.Add(index);
            Assert.Equal(Digits[predicted[index]], row[1]);
            Assert.True(Math.Abs(probabilities[index * 10 + predicted[index]] - float.Parse(row[2])) <= 1e-5, row[0]);
        }
        using var sheet = SKBitmap.Decode(Path.Combine(store.StageDirectory("predict"), PredictStage.SheetFile));
        for (int y = 0; y < 32; y += 3)
            for (int x = 0; x < 32; x += 3)
                Assert.Equal(ImagePixel(test.Image(shown[0]), x, y), SheetPixel(sheet, 0, 4, x, y));
    }
}
