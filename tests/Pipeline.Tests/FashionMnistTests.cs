using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

/// <summary>
/// Fashion-MNIST from Debian's copy, whose gzip headers differ from upstream's while the IDX payload is the same:
/// the payload pins must let both verify, and a payload changed in one byte must not.
/// </summary>
[Trait("Category", "Unit")]
public class FashionMnistTests : IDisposable
{
    const string Labels = "train-labels-idx1-ubyte.gz";
    static readonly string Definitions = Path.Combine(TestHost.Root, "datasets");

    readonly TempFolder temp = new();
    readonly DatasetDefinition fashion = DatasetDefinition.Load("fashion-mnist", Definitions);

    public void Dispose() => temp.Dispose();

    static string Mirrored(string file) => TestHost.Required(Path.Combine(TestHost.FashionMirror, file));

    /// <summary>A mirror folder with Debian's files, except those given.</summary>
    string MirrorWith(params (string Name, byte[] Bytes)[] replaced)
    {
        string folder = temp["mirror"];
        Directory.CreateDirectory(folder);
        foreach (var name in fashion.Files.Keys)
        {
            string path = Path.Combine(folder, name);
            if (replaced.FirstOrDefault(r => r.Name == name).Bytes is { } bytes)
                File.WriteAllBytes(path, bytes);
            else
                File.CreateSymbolicLink(path, Mirrored(name));
        }
        return folder;
    }

    async Task<string> Download(string mirror)
    {
        using var downloader = new Downloader(new DownloadOptions(), Logger.None);
        await downloader.FetchAllAsync(fashion.Files, [mirror], temp["download"], []);
        return temp["download"];
    }

    [Fact]
    public async Task The_definition_downloads_from_the_Debian_mirror_and_verifies_to_the_published_counts()
    {
        string downloads = await Download(TestHost.FashionMirror);
        var inventory = DatasetVerifier.Verify(fashion, downloads, 5000, temp["verify"]);
        Assert.Equal((55_000, 5_000, 10_000), (inventory.Counts["train"], inventory.Counts["validation"], inventory.Counts["test"]));
        Assert.All(inventory.PerClass["train"].Zip(inventory.PerClass["validation"], (a, b) => a + b), n => Assert.Equal(6000, n));
        Assert.All(inventory.PerClass["test"], n => Assert.Equal(1000, n));

        var dataset = VerifiedDataset.Load(temp["verify"]);
        Assert.Equal(fashion.Classes, dataset.Classes);
        Assert.Equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], dataset.LoadSplit(temp["verify"], "validation").Labels[..10]);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], dataset.LoadSplit(temp["verify"], "test").Labels[..10]);
    }

    [Theory]
    [InlineData("mnist")]
    [InlineData("fashion-mnist")]
    public void Each_pin_of_a_definition_holds_on_its_own_for_the_offline_copy(string name)
    {
        // Wrapper and payload pins must describe the same file, or which one passes would depend on the mirror.
        var definition = DatasetDefinition.Load(name, Definitions);
        string mirror = name == "mnist" ? TestHost.MnistMirror : TestHost.FashionMirror;
        foreach (var (file, pin) in definition.Files)
        {
            string path = TestHost.Required(Path.Combine(mirror, file));
            Assert.Null(new PinnedFile(pin.Size, pin.Sha256).Check(path));
            Assert.Null(new PinnedFile(null, null, pin.Payload).Check(path));
        }
    }

    [Fact]
    public async Task Upstream_style_gzip_headers_verify_by_the_payload_pin()
    {
        // Upstream's label files store their names, which Debian's dropped: 24 and 23 bytes longer (README.txt).
        var train = GzipFile.Rewrap(File.ReadAllBytes(Mirrored(Labels)), name: "train-labels-idx1-ubyte", mtime: 1_503_000_000);
        var test = GzipFile.Rewrap(File.ReadAllBytes(Mirrored("t10k-labels-idx1-ubyte.gz")), name: "t10k-labels-idx1-ubyte", mtime: 1_503_000_000);
        Assert.Equal((fashion.Files[Labels].Size + 24, fashion.Files["t10k-labels-idx1-ubyte.gz"].Size + 23), (train.Length, test.Length));

        string downloads = await Download(MirrorWith((Labels, train), ("t10k-labels-idx1-ubyte.gz", test)));
        Assert.Equal(train, File.ReadAllBytes(Path.Combine(downloads, Labels)));
        var inventory = DatasetVerifier.Verify(fashion, downloads, 5000, temp["verify"]);
        Assert.Equal(55_000, inventory.Counts["train"]);
    }

    [Fact]
    public async Task A_payload_with_one_byte_flipped_in_a_wrapper_of_the_pinned_size_is_rejected_by_download_and_verify()
    {
        var payload = GzipFile.Decompress(File.ReadAllBytes(Mirrored(Labels)));
        payload[8] ^= 0x01; // the first label, 9 → 8: still a valid class, so only the pin can tell
        var tampered = GzipFile.WithSize(payload, (int)fashion.Files[Labels].Size!);
        var pin = fashion.Files[Labels];
        string expected = $"SHA-256 {ContentHash.OfBytes(tampered)} does not match the pinned {pin.Sha256}; " +
            $"decompressed: SHA-256 {ContentHash.OfBytes(payload)} does not match the pinned payload {pin.Payload!.Sha256}";

        string mirror = MirrorWith((Labels, tampered));
        var download = await Assert.ThrowsAsync<DownloadException>(() => Download(mirror));
        Assert.Equal($"{Labels}: no mirror gave a good copy:\n  {mirror}: {expected}", download.Message);
        Assert.False(File.Exists(Path.Combine(temp["download"], Labels)));

        // Verify checks too: a tampered file that got into the download folder some other way.
        File.Copy(Path.Combine(mirror, Labels), Path.Combine(temp["download"], Labels));
        var verify = Assert.Throws<IdxException>(() => DatasetVerifier.Verify(fashion, temp["download"], 5000, temp["verify"]));
        Assert.Equal($"{Labels}: {expected}", verify.Message);
    }
}
