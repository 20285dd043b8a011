using System.Text;
using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// Image counts per split and per class: the reference's "Image Inventory", as JSON and as a table. A folder dataset's
/// also lists the files skipped as unreadable and the images found in more than one split.
/// </summary>
public sealed record Inventory(string Dataset, IReadOnlyList<string> Classes, SortedDictionary<string, int> Counts,
    SortedDictionary<string, int[]> PerClass)
{
    public const string FileName = "inventory.json";

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<SkippedFile>? Skipped { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<PixelLeak>? Leaks { get; init; }

    public string ToTable()
    {
        var text = new StringBuilder($"Image inventory ({Dataset})\n");
        foreach (var (split, title) in new[] { ("train", "Training"), ("validation", "Validation"), ("test", "Testing") })
            if (Counts.TryGetValue(split, out int n))
                text.AppendLine($"  {title,-11}{n,8:N0}");
        int width = Math.Max(7, Classes.Max(c => c.Length) + 1); // a folder dataset's class names may be long
        text.Append($"  {"class",-11}").AppendJoin("", Classes.Select(c => c.PadLeft(width))).AppendLine();
        foreach (var split in VerifiedDataset.SplitOrder.Where(PerClass.ContainsKey))
            text.Append($"  {split,-11}").AppendJoin("", PerClass[split].Select(n => n.ToString("N0").PadLeft(width))).AppendLine();
        if (Skipped is { Count: > 0 }) text.AppendLine($"  skipped {Skipped.Count:N0} unreadable file{(Skipped.Count == 1 ? "" : "s")}");
        if (Leaks is { Count: > 0 }) text.AppendLine($"  {Leaks.Count:N0} image{(Leaks.Count == 1 ? " is" : "s are")} in more than one split");
        return text.ToString().TrimEnd();
    }
}

/// <summary>
/// The Verify stage: the pins (the bytes, or the decompressed payload), then the IDX structure of every file (magic, dimensions, exact length,
/// image/label agreement, label range), then the splits written as raw arrays with the dataset's description.
/// The validation split is the first <c>validation</c> training images, as TensorFlow's MNIST reader held out.
/// </summary>
public static class DatasetVerifier
{
    public static Inventory Verify(DatasetDefinition definition, string downloads, int validation, string output)
    {
        foreach (var (name, pin) in definition.Files)
        {
            string path = Path.Combine(downloads, name);
            if (!File.Exists(path))
                throw new IdxException($"{name}: not found in {downloads}");
            if (pin.Check(path) is { } problem)
                throw new IdxException($"{name}: {problem}");
        }

        var loaded = definition.Splits.Select(s => LoadSplit(definition, downloads, s.Key, s.Value)).ToDictionary(s => s.Name);
        var shapes = loaded.Values.Select(s => (s.Rows, s.Columns)).Distinct().ToList();
        if (shapes.Count != 1)
            throw new IdxException($"splits disagree on image size: {string.Join(", ", loaded.Values.Select(s => $"{s.Name} {s.Rows}×{s.Columns}"))}");

        var train = loaded["train"];
        if (validation < 0 || validation >= train.Count)
            throw new IdxException($"verify.validation must be between 0 and {train.Count - 1:N0} (the training images), got {validation:N0}");
        int size = train.ImageSize;
        var splits = new List<ImageSplit>
        {
            new("train", train.Images[(validation * size)..], train.Labels[validation..], train.Rows, train.Columns),
            new("validation", train.Images[..(validation * size)], train.Labels[..validation], train.Rows, train.Columns),
        };
        splits.AddRange(loaded.Values.Where(s => s.Name != "train"));

        Directory.CreateDirectory(output);
        foreach (var split in splits)
        {
            File.WriteAllBytes(Path.Combine(output, VerifiedDataset.ImagesFile(split.Name)), split.Images);
            File.WriteAllBytes(Path.Combine(output, VerifiedDataset.LabelsFile(split.Name)), split.Labels);
        }
        var (rows, columns) = shapes[0];
        CanonicalJson.WriteFile(Path.Combine(output, VerifiedDataset.FileName), new VerifiedDataset(definition.Name, definition.Classes,
            rows, columns, new SortedDictionary<string, int>(splits.ToDictionary(s => s.Name, s => s.Count), StringComparer.Ordinal)));

        var inventory = new Inventory(definition.Name, definition.Classes,
            new SortedDictionary<string, int>(splits.ToDictionary(s => s.Name, s => s.Count), StringComparer.Ordinal),
            new SortedDictionary<string, int[]>(splits.ToDictionary(s => s.Name, s => s.ClassCounts(definition.Classes.Count)), StringComparer.Ordinal));
        CanonicalJson.WriteFile(Path.Combine(output, Inventory.FileName), inventory);
        return inventory;
    }

    static ImageSplit LoadSplit(DatasetDefinition definition, string downloads, string split, SplitFiles files)
    {
        var images = Idx.ReadGzip(Path.Combine(downloads, files.Images), dimensions: 3);
        var labels = Idx.ReadGzip(Path.Combine(downloads, files.Labels), dimensions: 1);
        if (labels.Count != images.Count)
            throw new IdxException($"{files.Labels}: label count {labels.Count} != image count {images.Count} in {files.Images}");
        int classes = definition.Classes.Count;
        int bad = labels.Data.AsSpan().IndexOfAnyInRange((byte)classes, byte.MaxValue);
        if (bad >= 0)
            throw new IdxException($"{files.Labels}: label {labels.Data[bad]} at index {bad} is outside 0–{classes - 1}");
        return new ImageSplit(split, images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2]);
    }
}
