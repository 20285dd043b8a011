using Pipeline.Acquisition;
using Pipeline.Training;
using static TorchSharp.torch;

namespace Pipeline.Tests;

/// <summary>The loader reads splits from disk batch by batch and gives exactly what whole-tensor indexing gave.</summary>
[Trait("Category", "Unit")]
public class BatchLoaderTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    /// <summary>Two colour splits written in Verify's form and opened as views.</summary>
    (ImageSplit Memory, ImageExamples Disk) TwoSplits()
    {
        var train = ColourData.Split("train", 37, first: 0, rows: 28, columns: 30);
        var augmented = ColourData.Split("augmented", 11, first: 40, rows: 28, columns: 30);
        var dataset = new VerifiedDataset("t", ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], 28, 30,
            new(new Dictionary<string, int> { ["train"] = 37, ["augmented"] = 11 }), Channels: 3);
        foreach (var split in new[] { train, augmented })
        {
            File.WriteAllBytes(temp[VerifiedDataset.ImagesFile(split.Name)], split.Images);
            File.WriteAllBytes(temp[VerifiedDataset.LabelsFile(split.Name)], split.Labels);
        }
        var both = new ImageSplit("both", [.. train.Images, .. augmented.Images], [.. train.Labels, .. augmented.Labels], 28, 30, 3);
        return (both, new ImageExamples([dataset.LoadSplit(temp.Path, "train"), dataset.LoadSplit(temp.Path, "augmented")]));
    }

    [Fact]
    public void Permuted_batches_from_disk_equal_index_select_on_the_whole_tensor_bit_for_bit()
    {
        var (memory, disk) = TwoSplits();
        using var _ = disk;
        using var whole = LabelledTensors.From(memory);
        using var generator = new Generator(42);
        using var permutation = randperm(disk.Count, generator: generator);
        long[] order = permutation.data<long>().ToArray();
        using var loader = new BatchLoader(disk, 10, order);
        int batches = 0;
        foreach (var batch in loader.Read())
        {
            using var scope = NewDisposeScope();
            var indices = permutation.narrow(0, batch.Start, batch.Count);
            Assert.True(whole.Images.index_select(0, indices).eq(batch.Inputs()).all().item<bool>(), $"batch {batches}");
            Assert.True(whole.Labels.index_select(0, indices).eq(batch.Labels()).all().item<bool>(), $"labels of batch {batches}");
            batches++;
        }
        Assert.Equal(5, batches); // 48 examples: four of 10 and one of 8
        Assert.True(loader.Waited >= TimeSpan.Zero);
    }

    [Fact]
    public void The_conversion_table_is_libtorchs_division_by_255()
    {
        using var bytes = tensor(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), [256]);
        using var floats = bytes.to_type(ScalarType.Float32).div_(255f);
        Assert.Equal(floats.data<float>().ToArray(), ImageExamples.Scale);
    }

    [Fact]
    public void A_read_that_fails_surfaces_in_the_caller_with_its_message()
    {
        var (_, disk) = TwoSplits();
        using var _ = disk;
        using var loader = new BatchLoader(new Failing(disk), 16);
        var error = Assert.Throws<DatasetException>(() => { foreach (var _ in loader.Read()) { } });
        Assert.Equal("disk gone", error.Message);
    }

    sealed class Failing(ExampleSource inner) : ExampleSource
    {
        int calls;
        public override int Count => inner.Count;
        public override long[] ExampleShape => inner.ExampleShape;
        public override int Label(long index) => inner.Label(index);
        public override void Gather(ReadOnlySpan<long> indices, Span<float> destination)
        {
            if (++calls == 2) throw new DatasetException("disk gone");
            inner.Gather(indices, destination);
        }
    }
}
