using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pipeline.Evaluation;
using Pipeline.Features;
using Pipeline.Imaging;
using Pipeline.Stages;
using Pipeline.Training;

namespace Pipeline.Prediction;

/// <summary>
/// Predict: the user's own images (predict.images) through the trained models' ONNX files (Train's, and Transfer's
/// when transfer.enabled), or through one given file alone (predict.model): the top classes of each image in the log,
/// <c>predictions.csv</c> and a contact sheet.
/// </summary>
public sealed class PredictStage : Stage<PredictStage>
{
    public const string CsvFile = "predictions.csv", SheetFile = "predictions.png";

    /// <summary>How many images the contact sheet shows (the first ones).</summary>
    public const int SheetImages = 100;

    public override string Name => "predict";
    public override string Description =>
        "Classify your own images (--images) with the trained CNN and the transfer model, or one ONNX file (--model): top classes per image, predictions.csv, predictions.png.";
    public override IReadOnlyList<Stage> Upstream => [TrainStage.Instance, TransferStage.Instance];

    // A model file of its own needs no model of the pipeline: then Train is not needed at all.
    public override IEnumerable<Stage> Reads(StageContext context) =>
        ModelFile(context) is not null ? [] : context.Section<TransferParameters>().Enabled ? Upstream : [TrainStage.Instance];

    public override IReadOnlyList<string> Shapes => ["predict.images", "predict.top", "predict.model", "predict.framing", "predict.unlike_threshold"];
    // The bytes of the images and of the model file, not only their names: an edited image reruns the stage, and
    // --dryrun names it (path → SHA-256).
    public override object? Pins(StageContext context) => new
    {
        Images = new SortedDictionary<string, string>(Images(context).ToDictionary(i => Shown(context, i), ContentHash.OfFile), StringComparer.Ordinal),
        Model = ModelFile(context) is { } model ? ContentHash.OfFile(Existing(model)) : null,
    };

    public override void CheckRequest(StageContext context)
    {
        if (Images(context).Count == 0)
            throw new PredictException("no images to classify: give --images=PATH (a file, a folder or a glob; repeatable), or set predict.images");
        if (ModelFile(context) is { } model)
            Existing(model);
    }

    static IReadOnlyList<string> Images(StageContext context) => ImageFiles.Find(context.Section<PredictParameters>().Images, context.Root);

    static string? ModelFile(StageContext context) =>
        context.Section<PredictParameters>().Model is { Length: > 0 } model ? Path.GetFullPath(model, context.Root) : null;

    static string Existing(string model) => File.Exists(model) ? model
        : throw new PredictException($"predict.model: {ImageFiles.Named(model)}: no such file");

    /// <summary>A path as the outputs show it: relative to the repository when inside it.</summary>
    static string Shown(StageContext context, string path) => ImageFiles.Relative(path, context.Root);

    /// <summary>The models to ask, each with the label the outputs give it.</summary>
    static IEnumerable<(string Label, string Path)> Models(StageContext context)
    {
        if (ModelFile(context) is { } model)
            return [(Path.GetFileName(model), Existing(model))];
        var models = new List<(string, string)> { ("cnn", Path.Combine(context.OutputOf(TrainStage.Instance), TrainingStage.OnnxFile)) };
        if (context.Section<TransferParameters>().Enabled)
            models.Add(("transfer", Path.Combine(context.OutputOf(TransferStage.Instance), TrainingStage.OnnxFile)));
        return models;
    }

    /// <summary>
    /// One model's answers: the probabilities of every image, the pixels it was given, and each image's unlikeness
    /// (<see cref="Framing.Unlikeness"/>; NaN when the model's file does not say how its training images are framed).
    /// </summary>
    sealed record Answers(string Label, IReadOnlyList<string> Classes, float[] Probabilities, IReadOnlyList<FramedImage> Framed, int Channels, int Rows, int Columns)
    {
        public ReadOnlySpan<float> Row(int image) => Probabilities.AsSpan(image * Classes.Count, Classes.Count);

        public IEnumerable<(string Class, float Probability)> Top(int image, int k) =>
            Predictions.TopK(Row(image), k).Select(c => (Classes[c], Probabilities[image * Classes.Count + c]));

        public bool? Unlike(int image, double threshold) => double.IsNaN(Framed[image].Unlikeness) ? null : Framed[image].Unlikeness > threshold;
    }

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        CheckRequest(context);
        var images = Images(context);
        long maxPixels = context.Section<Acquisition.VerifyParameters>().MaxImagePixels;
        var parameters = context.Section<PredictParameters>();
        int top = parameters.Top;
        bool frame = parameters.Framing == "auto";
        var clock = Stopwatch.StartNew();
        // Models of the same input and framing share the decoding and framing.
        var pixels = new Dictionary<(int, int, int, string), IReadOnlyList<FramedImage>>();
        var answers = new List<Answers>();
        foreach (var (label, path) in Models(context))
        {
            context.Cancellation.ThrowIfCancellationRequested();
            using var classifier = OnnxClassifier.Load(path);
            var framing = classifier.Framing;
            if (framing is null)
                context.Log.Warning("{Model}: its file does not say how its training images are framed (metadata \"{Key}\"): images are resized whole and not compared with the training images",
                    label, FramingStatistics.MetadataKey);
            var key = (classifier.Channels, classifier.Rows, classifier.Columns, framing?.ToJson() ?? "");
            if (!pixels.TryGetValue(key, out var loaded))
            {
                try
                {
                    pixels[key] = loaded = [.. images.AsParallel().AsOrdered().WithCancellation(context.Cancellation).Select(i =>
                    {
                        var (planes, width, height) = ImageLoader.LoadPlanes(i, classifier.Channels, classifier.Rows, classifier.Columns, maxPixels);
                        return frame && framing is not null
                            ? Framing.Frame(planes, classifier.Channels, width, height, framing)
                            : Framing.Unframed(planes, classifier.Channels, width, height, classifier.Rows, classifier.Columns, framing);
                    })];
                }
                catch (AggregateException e) when (e.InnerExceptions.OfType<ImageException>().FirstOrDefault() is { } named)
                {
                    // The file's own message, not PLINQ's wrapper: it names the file.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(named);
                    throw;
                }
            }
            answers.Add(new Answers(label, classifier.Classes, classifier.Probabilities([.. loaded.Select(f => f.Pixels)]), loaded,
                classifier.Channels, classifier.Rows, classifier.Columns));
        }
        double seconds = clock.Elapsed.TotalSeconds;

        double threshold = parameters.UnlikeThreshold;
        var csv = new StringBuilder(answers.Count > 1 ? "path,model,predicted,probability,top_k,unlike_training\n" : "path,predicted,probability,top_k,unlike_training\n");
        int unlike = 0;
        for (int i = 0; i < images.Count; i++)
        {
            string shown = Shown(context, images[i]);
            foreach (var a in answers)
            {
                var best = a.Top(i, top).ToList();
                string topK = string.Join(';', best.Select(b => $"{b.Class}:{Number(b.Probability)}"));
                csv.Append(CsvField(shown)).Append(',').Append(answers.Count > 1 ? a.Label + "," : "")
                    .Append(CsvField(best[0].Class)).Append(',').Append(Number(best[0].Probability)).Append(',').Append(CsvField(topK)).Append(',')
                    .Append(a.Unlike(i, threshold) switch { true => "true", false => "false", null => "" }).Append('\n');
            }
            context.Log.Information("{Path:l}  {Predictions:l}", shown,
                string.Join("  |  ", answers.Select(a => $"{a.Label}: " + string.Join(", ", a.Top(i, top).Select(b => $"{b.Class} {Percent(b.Probability)}")))));
            if (answers.FirstOrDefault(a => a.Unlike(i, threshold) == true) is { } marked)
            {
                unlike++;
                context.Log.Warning("{Path:l}: unlike the training images ({Reason:l}; unlikeness {Score:0.0} > predict.unlike_threshold {Threshold}): its answers are not to be trusted",
                    shown, marked.Framed[i].Reason, marked.Framed[i].Unlikeness, threshold);
            }
        }
        File.WriteAllText(workspace.PathOf(CsvFile), csv.ToString());
        File.WriteAllBytes(workspace.PathOf(SheetFile), Sheet(answers, images.Count));

        context.Log.Information("predict: {Count:N0} images ({Unlike:N0} unlike the training images), {Models} in {Seconds:0.00} s; {Csv}", images.Count, unlike,
            string.Join(" and ", answers.Select(a => a.Label)), seconds, Path.Combine(context.OutputOf(this), CsvFile));
        workspace.Tools["onnxruntime"] = Featurizer.RuntimeVersion;
        workspace.Metrics["images"] = images.Count;
        workspace.Metrics["unlike_training"] = unlike;
        workspace.Metrics["seconds"] = Math.Round(seconds, 3);
        workspace.Metrics["images_per_second"] = Math.Round(images.Count * answers.Count / Math.Max(seconds, 1e-6));
        return Task.CompletedTask;
    }

    /// <summary>The first images as the first model saw them, each with every model's top class and its probability.</summary>
    static byte[] Sheet(IReadOnlyList<Answers> answers, int count)
    {
        var first = answers[0];
        var tiles = Enumerable.Range(0, Math.Min(count, SheetImages)).Select(i =>
        {
            string caption = string.Join(" · ", answers.Select(a => a.Top(i, 1).First()).Select(b => $"{b.Class} {b.Probability * 100:0}%"));
            return new Tile(first.Framed[i].Pixels, first.Columns, first.Rows, caption, first.Channels);
        }).ToList();
        return ContactSheet.Render(tiles, columns: Math.Min(10, tiles.Count), scale: 4);
    }

    static string Number(float probability) => probability.ToString("0.000000", CultureInfo.InvariantCulture);

    static string Percent(float probability) => (probability * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    static string CsvField(string text) =>
        text.AsSpan().IndexOfAny(",\"\n\r") < 0 ? text : "\"" + text.Replace("\"", "\"\"") + "\"";
}

/// <summary>What Predict cannot do as asked; the message names the file or the parameter.</summary>
public sealed class PredictException(string message) : PipelineException(message);
