using Pipeline.Acquisition;

namespace Pipeline.Tests;

/// <summary>A verified split opened from disk is a view: ranges read into the caller's buffer, bad files named.</summary>
[Trait("Category", "Unit")]
public class SplitViewTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>A 3×2×4 split of <paramref name="count"/> images whose every byte says which image and where.</summary>
    VerifiedDataset Write(int count, int droppedBytes = 0)
    {
        var images = new byte[count * 24];
        for (int i = 0; i < images.Length; i++) images[i] = (byte)(i / 24 * 7 + i % 24);
        File.WriteAllBytes(temp[VerifiedDataset.ImagesFile("train")], images[..^droppedBytes]);
        File.WriteAllBytes(temp[VerifiedDataset.LabelsFile("train")], [.. Enumerable.Range(0, count).Select(i => (byte)(i % 3))]);
        return new VerifiedDataset("t", ["a", "b", "c"], 2, 4, new(new Dictionary<string, int> { ["train"] = count }), Channels: 3);
    }

    [Fact]
    public void A_range_reads_into_the_callers_buffer_the_same_bytes_as_the_file()
    {
        var dataset = Write(10);
        using var split = dataset.LoadSplit(temp.Path, "train");
        Assert.Equal(10, split.Count);
        Assert.Equal((3, 2, 4), (split.Channels, split.Rows, split.Columns));
        var buffer = new byte[3 * 24 + 5];
        split.Read(4, 3, buffer);
        byte[] file = File.ReadAllBytes(temp[VerifiedDataset.ImagesFile("train")]);
        Assert.Equal(file[(4 * 24)..(7 * 24)], buffer[..72]);
        Assert.Equal(new byte[5], buffer[72..]); // nothing past the range is written
        Assert.Equal(file[(9 * 24)..], split.Image(9).ToArray());
        Assert.Equal([0, 1, 2, 0], split.Labels[..4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => split.Read(8, 3, buffer));
        Assert.Throws<InvalidOperationException>(() => split.Images); // never loaded whole
    }

    [Fact]
    public void A_split_file_shorter_than_its_record_is_an_error_naming_it()
    {
        var dataset = Write(10, droppedBytes: 5);
        var error = Assert.Throws<DatasetException>(() => dataset.LoadSplit(temp.Path, "train"));
        Assert.Contains(temp[VerifiedDataset.ImagesFile("train")], error.Message);
        Assert.Contains("truncated", error.Message);
        Assert.Contains("10 images", error.Message.Replace("10 images of", "10 images"));
    }

    [Fact]
    public void A_missing_labels_file_is_named()
    {
        var dataset = Write(4);
        File.Delete(temp[VerifiedDataset.LabelsFile("train")]);
        var error = Assert.Throws<DatasetException>(() => dataset.LoadSplit(temp.Path, "train"));
        Assert.Contains(temp[VerifiedDataset.LabelsFile("train")], error.Message);
    }
}
