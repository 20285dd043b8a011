using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>
/// Colour images made from real ones, for the stages below Verify: MNIST test digits padded to 32×32 (or any size),
/// each painted in two colours of its own (the digit's and the background's, drawn from a seed per image), so every
/// channel differs and the shapes are real.
/// </summary>
static class ColourData
{
    static readonly Lazy<(byte[] Images, byte[] Labels)> Digits = new(() => (
        Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-images-idx3-ubyte.gz")), 3).Data,
        Idx.ReadGzip(TestHost.Required(Path.Combine(TestHost.MnistMirror, "t10k-labels-idx1-ubyte.gz")), 1).Data));

    /// <summary><paramref name="count"/> RGB images of <paramref name="rows"/> × <paramref name="columns"/> (at least 28 each), from digit <paramref name="first"/> on.</summary>
    public static ImageSplit Split(string name, int count, int first = 0, int rows = 32, int columns = 32)
    {
        var (digits, labels) = Digits.Value;
        int plane = rows * columns, top = (rows - 28) / 2, left = (columns - 28) / 2;
        var images = new byte[count * 3 * plane];
        for (int i = 0; i < count; i++)
        {
            var random = new Random(first + i);
            int[] ink = [random.Next(96, 256), random.Next(96, 256), random.Next(96, 256)], paper = [random.Next(0, 96), random.Next(0, 96), random.Next(0, 96)];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < rows; y++)
                    for (int x = 0; x < columns; x++)
                    {
                        int dy = y - top, dx = x - left;
                        int v = dy is >= 0 and < 28 && dx is >= 0 and < 28 ? digits[(first + i) * 784 + dy * 28 + dx] : 0;
                        images[(i * 3 + c) * plane + y * columns + x] = (byte)((v * ink[c] + (255 - v) * paper[c]) / 255);
                    }
        }
        return new ImageSplit(name, images, labels[first..(first + count)], rows, columns, 3);
    }

    /// <summary>Writes train, validation and test splits, dataset.json and framing.json into <paramref name="folder"/>, as Verify does.</summary>
    public static VerifiedDataset Write(string folder, int perSplit, int rows = 32, int columns = 32)
    {
        Directory.CreateDirectory(folder);
        foreach (var (split, k) in VerifiedDataset.SplitOrder.Select((s, k) => (s, k)))
        {
            var images = Split(split, perSplit, k * perSplit, rows, columns);
            File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.ImagesFile(split)), images.Images);
            File.WriteAllBytes(Path.Combine(folder, VerifiedDataset.LabelsFile(split)), images.Labels);
        }
        var dataset = new VerifiedDataset("colour digits", [.. Enumerable.Range(0, 10).Select(i => $"{i}")], rows, columns,
            new(VerifiedDataset.SplitOrder.ToDictionary(s => s, _ => perSplit), StringComparer.Ordinal), Channels: 3);
        CanonicalJson.WriteFile(Path.Combine(folder, VerifiedDataset.FileName), dataset);
        Pipeline.Imaging.FramingStatistics.Learn(dataset.LoadSplit(folder, "train")).Save(folder);
        return dataset;
    }
}
