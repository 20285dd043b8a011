using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class VerifyTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    static byte[] IdxBytes(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[4 + 4 * dims.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        data.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest)) gzip.Write(raw);
        return buffer.ToArray();
    }

    /// <summary>A small MNIST-like dataset (8×8 images) in a download folder, with a definition pinning its files.</summary>
    DatasetDefinition MakeDataset(int train = 30, int test = 10, Func<string, byte[], byte[]>? tamper = null)
    {
        string folder = temp["download"];
        Directory.CreateDirectory(folder);
        var files = new SortedDictionary<string, PinnedFile>(StringComparer.Ordinal);
        void Write(string name, byte[] raw)
        {
            var bytes = Gzip(raw);
            files[name] = new PinnedFile(bytes.Length, ContentHash.OfBytes(bytes));
            File.WriteAllBytes(Path.Combine(folder, name), tamper?.Invoke(name, bytes) ?? bytes);
        }
        foreach (var (split, count) in new[] { ("train", train), ("t10k", test) })
        {
            var pixels = Enumerable.Range(0, count * 64).Select(i => (byte)(i / 64)).ToArray(); // image i is all i
            var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
            Write($"{split}-images-idx3-ubyte.gz", IdxBytes(0x803, [count, 8, 8], pixels));
            Write($"{split}-labels-idx1-ubyte.gz", IdxBytes(0x801, [count], labels));
        }
        return new DatasetDefinition("tiny", "tiny test set", [], [.. Enumerable.Range(0, 10).Select(i => i.ToString())],
            new(StringComparer.Ordinal)
            {
                ["train"] = new SplitFiles("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                ["test"] = new SplitFiles("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
            }, files);
    }

    // Writes a broken file but pins its own hash, so the structural check (not the checksum) must catch it.
    IdxException VerifyBroken(string file, byte[] raw)
    {
        var dataset = MakeDataset();
        var bytes = raw.Length > 1 && raw[0] == 0x1f && raw[1] == 0x8b ? raw : Gzip(raw);
        File.WriteAllBytes(temp[Path.Combine("download", file)], bytes);
        dataset.Files[file] = new PinnedFile(bytes.Length, ContentHash.OfBytes(bytes));
        return Assert.Throws<IdxException>(() => DatasetVerifier.Verify(dataset, temp["download"], 5, temp["out"]));
    }

    [Fact]
    public void Splits_hold_out_the_first_training_images_for_validation()
    {
        var inventory = DatasetVerifier.Verify(MakeDataset(), temp["download"], 5, temp["out"]);
        Assert.Equal(25, inventory.Counts["train"]);
        Assert.Equal(5, inventory.Counts["validation"]);
        Assert.Equal(10, inventory.Counts["test"]);
        Assert.Equal([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], inventory.PerClass["validation"]);

        var dataset = VerifiedDataset.Load(temp["out"]);
        var train = dataset.LoadSplit(temp["out"], "train");
        Assert.Equal((8, 8, 25), (dataset.Rows, dataset.Columns, train.Count));
        Assert.All(train.Image(0).ToArray(), p => Assert.Equal(5, p)); // training image 5 comes first
        Assert.Equal(5, train.Labels[0]);
        Assert.Contains("Validation", inventory.ToTable());
    }

    [Fact]
    public void A_checksum_mismatch_names_the_file_and_says_what_it_is()
    {
        var dataset = MakeDataset(tamper: (name, bytes) => name.StartsWith("train-labels") ? Encoding.ASCII.GetBytes("<!DOCTYPE html><p>moved</p>") : bytes);
        var error = Assert.Throws<IdxException>(() => DatasetVerifier.Verify(dataset, temp["download"], 5, temp["out"]));
        Assert.StartsWith("train-labels-idx1-ubyte.gz: not gzip (starts with \"<!DOCTYPE html><\")", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_gzip_is_named()
    {
        File.WriteAllText(temp["page.gz"], "<!DOCTYPE html>\n<html></html>");
        var error = Assert.Throws<IdxException>(() => Idx.ReadGzip(temp["page.gz"], 1));
        Assert.Equal("page.gz: not gzip (starts with \"<!DOCTYPE html>\")", error.Message);
    }

    [Fact]
    public void A_wrong_magic_number_is_reported()
    {
        var error = VerifyBroken("train-images-idx3-ubyte.gz", IdxBytes(0x801, [30], new byte[30]));
        Assert.Equal("train-images-idx3-ubyte.gz: magic 0x00000801, expected 0x00000803 (unsigned bytes, 3 dimensions)", error.Message);
    }

    [Fact]
    public void A_length_that_disagrees_with_the_header_is_reported()
    {
        var error = VerifyBroken("train-images-idx3-ubyte.gz", IdxBytes(0x803, [30, 8, 8], new byte[30 * 64 - 1]));
        Assert.Equal("train-images-idx3-ubyte.gz: header declares 30 × 8 × 8 = 1,920 data bytes, the file holds 1,919", error.Message);
    }

    [Fact]
    public void A_truncated_gzip_stream_is_reported()
    {
        var whole = Gzip(IdxBytes(0x803, [30, 8, 8], Enumerable.Range(0, 1920).Select(i => (byte)(i * 7)).ToArray()));
        var error = VerifyBroken("train-images-idx3-ubyte.gz", whole[..(whole.Length / 2)]);
        Assert.StartsWith("train-images-idx3-ubyte.gz: ", error.Message);
    }

    [Fact]
    public void A_label_count_that_disagrees_with_the_image_count_is_reported()
    {
        var error = VerifyBroken("train-labels-idx1-ubyte.gz", IdxBytes(0x801, [29], new byte[29]));
        Assert.Equal("train-labels-idx1-ubyte.gz: label count 29 != image count 30 in train-images-idx3-ubyte.gz", error.Message);
    }

    [Fact]
    public void A_label_outside_the_classes_is_reported_with_its_index()
    {
        var labels = new byte[30];
        labels[17] = 11;
        var error = VerifyBroken("train-labels-idx1-ubyte.gz", IdxBytes(0x801, [30], labels));
        Assert.Equal("train-labels-idx1-ubyte.gz: label 11 at index 17 is outside 0–9", error.Message);
    }

    [Fact]
    public void A_validation_split_larger_than_the_training_set_is_rejected()
    {
        var error = Assert.Throws<IdxException>(() => DatasetVerifier.Verify(MakeDataset(), temp["download"], 30, temp["out"]));
        Assert.Equal("verify.validation must be between 0 and 29 (the training images), got 30", error.Message);
    }

    [Fact]
    public void The_real_mnist_files_verify_to_the_published_counts_and_labels()
    {
        var mnist = DatasetDefinition.Load("mnist", Path.Combine(TestHost.Root, "datasets"));
        var inventory = DatasetVerifier.Verify(mnist, TestHost.MnistMirror, 5000, temp["out"]);
        Assert.Equal((55_000, 5_000, 10_000), (inventory.Counts["train"], inventory.Counts["validation"], inventory.Counts["test"]));
        var perDigit = inventory.PerClass["train"].Zip(inventory.PerClass["validation"], (a, b) => a + b);
        Assert.Equal([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], perDigit);

        var dataset = VerifiedDataset.Load(temp["out"]);
        Assert.Equal([5, 0, 4, 1, 9], dataset.LoadSplit(temp["out"], "validation").Labels[..5]);
        Assert.Equal([7, 2, 1, 0, 4], dataset.LoadSplit(temp["out"], "test").Labels[..5]);
    }
}
