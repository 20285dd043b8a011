using System.Diagnostics;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Parameters;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Imaging;

/// <summary>The <c>export</c> section.</summary>
[ParameterSection("export")]
public sealed record ExportParameters : IValidatedParameters
{
    /// <summary>Which splits to write.</summary>
    public string[] Splits { get; init; } = ["train", "validation", "test"];
    /// <summary>At most this many images per split; 0 means all.</summary>
    public int Limit { get; init; }
    /// <summary>Also write the one-hot label vector into the manifest (the reference's one_hot=True).</summary>
    public bool OneHot { get; init; }
    /// <summary>How many images of each split its contact sheet shows.</summary>
    public int SheetImages { get; init; } = 100;

    public IEnumerable<string> Validate()
    {
        if (Splits.Length == 0) yield return "splits must name at least one split";
        foreach (var split in Splits.Where(s => !VerifiedDataset.SplitOrder.Contains(s)))
            yield return $"splits: unknown split '{split}' (splits: {string.Join(", ", VerifiedDataset.SplitOrder)})";
        if (Limit < 0) yield return $"limit must be ≥ 0 (0 = all), got {Limit}";
        if (SheetImages is < 1 or > 1000) yield return $"sheet_images must be between 1 and 1000, got {SheetImages}";
    }
}

public sealed record ExportResult(int Written, int Reused, double Seconds)
{
    public int Files => Written + Reused;
    public double FilesPerSecond => Files / Math.Max(Seconds, 1e-6);
}

/// <summary>
/// Writes a verified dataset as lossless 8-bit PNG files (grayscale for one channel, RGB for three) in the layout ImageFolder, Keras and ML.NET read:
/// <c>&lt;split&gt;/&lt;class&gt;/&lt;index&gt;.png</c>, plus <c>manifest.csv</c> and contact sheets. A file that an
/// earlier run already wrote with exactly the right bytes is moved over instead of written again.
/// </summary>
public static class Exporter
{
    public const string Manifest = "manifest.csv", Sheets = "sheets";

    /// <summary>The splits written, in the order the images' indices run across them.</summary>
    static IEnumerable<string> Splits(ExportParameters parameters) => VerifiedDataset.SplitOrder.Where(parameters.Splits.Contains);

    static int Count(VerifiedDataset dataset, ExportParameters parameters, string split)
    {
        int count = dataset.Splits.GetValueOrDefault(split);
        return parameters.Limit > 0 ? Math.Min(parameters.Limit, count) : count;
    }

    /// <summary>How many images an export writes: each split's (up to the limit), indexed across the splits in order.</summary>
    public static int Items(VerifiedDataset dataset, ExportParameters parameters) => Splits(parameters).Sum(s => Count(dataset, parameters, s));

    /// <summary>
    /// Writes the PNG files of the images in <paramref name="range"/> and their rows of <c>manifest.csv</c> (the range
    /// that starts at the first image writes the header), so the ranges' manifests concatenate into the whole.
    /// </summary>
    public static ExportResult ExportRange(VerifiedDataset dataset, string verified, ExportParameters parameters, ItemRange range, string output,
        IEnumerable<string?> salvage, ILogger log, Action<string, byte[]>? onFile = null, CancellationToken cancellation = default)
    {
        ClassNames.Check(dataset.Classes, Path.Combine(verified, VerifiedDataset.FileName));
        var salvageFolders = salvage.OfType<string>().Where(Directory.Exists).ToArray();
        var clock = Stopwatch.StartNew();
        int written = 0, reused = 0;
        var manifest = new StringBuilder(range.Start > 0 ? ""
            : parameters.OneHot ? "path,split,index,label,class,pixels_sha256,one_hot\n" : "path,split,index,label,class,pixels_sha256\n");

        int offset = 0;
        foreach (var splitName in Splits(parameters))
        {
            int splitCount = Count(dataset, parameters, splitName);
            var (from, to) = range.Within(offset, splitCount);
            offset += splitCount;
            if (from == to) continue;
            using var split = dataset.LoadSplit(verified, splitName);
            foreach (var name in dataset.Classes)
                Directory.CreateDirectory(Path.Combine(output, splitName, name));
            var rows = new string[to - from];
            var progress = new Progress(log, $"export {splitName}", to - from, "files");
            Parallel.For(from, to, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellation }, i =>
            {
                var pixels = split.Image(i);
                int label = split.Labels[i];
                string relative = $"{splitName}/{dataset.Classes[label]}/{i:D5}.png";
                byte[] png = Png.Encode(pixels, split.Columns, split.Rows, split.Channels);
                onFile?.Invoke(relative, png); // the caller may record its hash without reading it back
                if (Reuse(relative, png, output, salvageFolders)) Interlocked.Increment(ref reused);
                else
                {
                    File.WriteAllBytes(Path.Combine(output, relative), png);
                    Interlocked.Increment(ref written);
                }
                string row = $"{relative},{splitName},{i},{label},{dataset.Classes[label]},{ContentHash.OfBytes(pixels)}";
                rows[i - from] = parameters.OneHot ? $"{row},{OneHot(label, dataset.Classes.Count)}" : row;
                progress.Add(1);
            });
            progress.Complete();
            foreach (var row in rows) manifest.Append(row).Append('\n');
        }
        File.WriteAllText(Path.Combine(output, Manifest), manifest.ToString());
        return new ExportResult(written, reused, clock.Elapsed.TotalSeconds);
    }

    /// <summary>What is drawn from the whole export: every split's class folders (ImageFolder's classes, even when empty) and the contact sheets.</summary>
    public static void Complete(VerifiedDataset dataset, string verified, ExportParameters parameters, string output)
    {
        var splits = Splits(parameters).Select(name => dataset.LoadSplit(verified, name)).ToList();
        foreach (var split in splits)
            foreach (var name in dataset.Classes)
                Directory.CreateDirectory(Path.Combine(output, split.Name, name));
        var train = splits.FirstOrDefault(s => s.Name == "train") ?? dataset.LoadSplit(verified, "train");
        try
        {
            WriteSheets(splits, train, dataset.Classes, parameters, Path.Combine(output, Sheets));
        }
        finally
        {
            foreach (var split in splits.Append(train)) split.Dispose();
        }
    }

    /// <summary>Moves an earlier run's file into place when its bytes are exactly the ones to write.</summary>
    static bool Reuse(string relative, byte[] png, string output, string[] folders)
    {
        foreach (var folder in folders)
        {
            var candidate = new FileInfo(Path.Combine(folder, relative));
            if (candidate.Exists && candidate.Length == png.Length && File.ReadAllBytes(candidate.FullName).AsSpan().SequenceEqual(png))
            {
                candidate.MoveTo(Path.Combine(output, relative));
                return true;
            }
        }
        return false;
    }

    public static string OneHot(int label, int classes) =>
        string.Join(' ', Enumerable.Range(0, classes).Select(c => c == label ? '1' : '0'));

    /// <summary>Per split: its first images with their labels; and ten training examples of each class.</summary>
    static void WriteSheets(IEnumerable<ImageSplit> splits, ImageSplit train, IReadOnlyList<string> classes,
        ExportParameters parameters, string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var split in splits.Where(s => s.Count > 0))
        {
            var tiles = Enumerable.Range(0, Math.Min(parameters.SheetImages, split.Count))
                .Select(i => Tile(split, i, classes, parameters.OneHot)).ToList();
            File.WriteAllBytes(Path.Combine(folder, $"{split.Name}.png"), ContactSheet.Render(tiles, columns: parameters.OneHot ? 5 : 10, scale: parameters.OneHot ? 5 : 3));
        }
        var perClass = classes.Select((_, c) => Enumerable.Range(0, train.Count).Where(i => train.Labels[i] == c).Take(10))
            .SelectMany(indices => indices).Select(i => Tile(train, i, classes, oneHot: false)).ToList();
        File.WriteAllBytes(Path.Combine(folder, "classes.png"), ContactSheet.Render(perClass, columns: 10, scale: 3));
    }

    static Tile Tile(ImageSplit split, int index, IReadOnlyList<string> classes, bool oneHot) =>
        Imaging.Tile.Of(split, index,
            oneHot ? $"{classes[split.Labels[index]]}  {OneHot(split.Labels[index], classes.Count).Replace(" ", "")}" : classes[split.Labels[index]]);
}
