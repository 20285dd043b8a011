using System.Text;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class DownloaderTests : IAsyncDisposable
{
    const string Name = "data-idx1-ubyte.gz";
    static readonly byte[] Payload = MakePayload(300_000);
    static readonly byte[] Content = GzipFile.Compress(Payload);
    static readonly Dictionary<string, PinnedFile> Files = new() { [Name] = new PinnedFile(Content.Length, ContentHash.OfBytes(Content)) };
    static readonly PayloadPin PayloadPin = new(Payload.Length, ContentHash.OfBytes(Payload));
    // The same payload as another mirror might wrap it: a stored name and a time stamp in the gzip header.
    static readonly byte[] Rewrapped = GzipFile.Rewrap(Content, name: "data-idx1-ubyte", mtime: 1_590_000_000);

    readonly TempFolder temp = new();
    readonly DownloadOptions fast = new() { Retries = 2, ReadTimeout = TimeSpan.FromSeconds(1), FirstBackoff = TimeSpan.FromMilliseconds(10) };
    LoopbackServer? server;

    public async ValueTask DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
        temp.Dispose();
    }

    static byte[] MakePayload(int size)
    {
        var raw = new byte[size];
        new Random(7).NextBytes(raw.AsSpan(0, size / 2)); // half noise, half zeros: a realistic ratio
        return raw;
    }

    // Mirrors are folders on one server: /a/, /b/, /c/, each with its own behaviour.
    LoopbackServer Serve(Func<string, LoopbackServer.Request, Reply> byMirror) =>
        server = new LoopbackServer(r => byMirror(r.Path.Split('/')[1], r));

    Task<string> Fetch(params string[] mirrors) => Fetch(Files[Name], mirrors);

    async Task<string> Fetch(PinnedFile pin, params string[] mirrors)
    {
        using var downloader = new Downloader(fast, Logger.None);
        await downloader.FetchAllAsync(new Dictionary<string, PinnedFile> { [Name] = pin }, mirrors, temp["out"], [temp["salvage"]]);
        return temp[Path.Combine("out", Name)];
    }

    [Fact]
    public void Mirrors_resolve_to_urls_as_given_and_to_absolute_folders()
    {
        Assert.Equal("https://example.org/mnist/", Downloader.ResolveMirror("https://example.org/mnist/"));
        Assert.Equal("/data/mnist", Downloader.ResolveMirror("file:///data/mnist"));
        Assert.Equal("/data/mnist", Downloader.ResolveMirror("/data/mnist"));
        Assert.Equal("/repo/shared/models", Downloader.ResolveMirror("shared/models", "/repo"));
        Assert.True(Downloader.IsRemote("http://host/x"));
        Assert.False(Downloader.IsRemote("file:///data/mnist"));
    }

    [Fact]
    public async Task Falls_back_past_403_and_404_to_a_good_mirror()
    {
        var s = Serve((mirror, _) => mirror switch
        {
            "a" => new Reply.Status(403, "Forbidden"),
            "b" => new Reply.Status(404, "Not Found"),
            _ => new Reply.Body(Content),
        });
        string file = await Fetch(s.Url("a/"), s.Url("b/"), s.Url("c/"));
        Assert.Equal(Content, File.ReadAllBytes(file));
        Assert.Equal(["/a/" + Name, "/b/" + Name, "/c/" + Name], s.Requests.Select(r => r.Path));
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_is_resumed_with_a_range_request()
    {
        int calls = 0;
        var s = Serve((_, _) => Interlocked.Increment(ref calls) == 1 ? new Reply.Body(Content, CutAfter: 100_000) : new Reply.Body(Content));
        string file = await Fetch(s.Url("a/"));
        Assert.Equal(Content, File.ReadAllBytes(file));
        Assert.Equal(2, s.Requests.Count);
        Assert.Null(s.Requests[0].RangeStart);
        Assert.Equal(100_000, s.Requests[1].RangeStart);
        Assert.False(File.Exists(file + ".part"));
    }

    [Fact]
    public async Task A_server_that_ignores_range_starts_over_and_still_gives_the_right_file()
    {
        int calls = 0;
        var s = Serve((_, _) => Interlocked.Increment(ref calls) == 1
            ? new Reply.Body(Content, CutAfter: 50_000) : new Reply.Body(Content, HonourRange: false));
        Assert.Equal(Content, File.ReadAllBytes(await Fetch(s.Url("a/"))));
    }

    [Fact]
    public async Task A_partial_file_left_by_an_earlier_run_is_resumed()
    {
        Directory.CreateDirectory(temp["salvage"]);
        File.WriteAllBytes(temp[Path.Combine("salvage", Name + ".part")], Content[..123_456]);
        var s = Serve((_, _) => new Reply.Body(Content));
        Assert.Equal(Content, File.ReadAllBytes(await Fetch(s.Url("a/"))));
        Assert.Equal(123_456, Assert.Single(s.Requests).RangeStart);
    }

    [Fact]
    public async Task An_html_page_served_as_gz_is_rejected_with_what_it_is_and_nothing_is_kept()
    {
        var html = Encoding.ASCII.GetBytes("<!DOCTYPE html>\n<html><body>Access denied</body></html>\n");
        var s = Serve((_, _) => new Reply.Body(html));
        var error = await Assert.ThrowsAsync<DownloadException>(() => Fetch(s.Url("a/")));
        Assert.Contains($"{Name}: no mirror gave a good copy", error.Message);
        Assert.Contains($"{s.Url("a/")}: not gzip (starts with \"<!DOCTYPE html>\")", error.Message);
        Assert.Empty(Directory.EnumerateFiles(temp["out"]));
    }

    [Fact]
    public async Task A_flipped_byte_fails_the_checksum_and_the_next_mirror_is_used()
    {
        var flipped = (byte[])Content.Clone();
        flipped[Content.Length / 2] ^= 0x01;
        var s = Serve((mirror, _) => new Reply.Body(mirror == "a" ? flipped : Content));
        Assert.Equal(Content, File.ReadAllBytes(await Fetch(s.Url("a/"), s.Url("b/"))));

        var only = await Assert.ThrowsAsync<DownloadException>(() => Fetch(s.Url("a/")));
        Assert.Contains($"does not match the pinned {Files[Name].Sha256}", only.Message);
        Assert.False(File.Exists(temp[Path.Combine("out", Name + ".part")]));
    }

    [Fact]
    public async Task A_stalled_server_times_out_is_retried_and_then_left_for_the_next_mirror()
    {
        var s = Serve((mirror, _) => mirror == "a" ? new Reply.Body(Content, StallAfter: 1000) : new Reply.Body(Content));
        Assert.Equal(Content, File.ReadAllBytes(await Fetch(s.Url("a/"), s.Url("b/"))));
        Assert.Equal(1 + fast.Retries, s.Requests.Count(r => r.Path.StartsWith("/a/")));
    }

    [Fact]
    public async Task When_every_mirror_fails_one_error_lists_each_mirror_and_its_answer()
    {
        var s = Serve((mirror, _) => mirror == "a" ? new Reply.Status(403, "Forbidden") : new Reply.Status(503, "Service Unavailable"));
        string missing = temp["no-such-folder"];
        var error = await Assert.ThrowsAsync<DownloadException>(() => Fetch(missing, s.Url("a/"), s.Url("b/")));
        Assert.Contains($"{missing}: folder not found", error.Message);
        Assert.Contains($"{s.Url("a/")}: HTTP 403 Forbidden", error.Message);
        Assert.Contains($"{s.Url("b/")}: HTTP 503 Service Unavailable (after 3 attempts)", error.Message);
    }

    [Fact]
    public async Task A_local_folder_mirror_is_copied_and_checked()
    {
        Directory.CreateDirectory(temp["mirror"]);
        File.WriteAllBytes(temp[Path.Combine("mirror", Name)], Content);
        Assert.Equal(Content, File.ReadAllBytes(await Fetch(temp["mirror"])));
    }

    [Fact]
    public async Task A_file_pinned_by_its_payload_alone_is_accepted_whatever_its_gzip_header()
    {
        var s = Serve((_, _) => new Reply.Body(Rewrapped));
        Assert.Equal(Rewrapped, File.ReadAllBytes(await Fetch(new PinnedFile(null, null, PayloadPin), s.Url("a/"))));
    }

    [Fact]
    public async Task A_copy_wrapped_differently_from_the_pinned_one_passes_by_its_payload()
    {
        var s = Serve((_, _) => new Reply.Body(Rewrapped));
        var pin = Files[Name] with { Payload = PayloadPin };
        Assert.Equal(Rewrapped, File.ReadAllBytes(await Fetch(pin, s.Url("a/"))));
        Assert.Single(s.Requests);

        // Without a payload pin the wrapper is all there is to go by.
        var error = await Assert.ThrowsAsync<DownloadException>(() => Fetch(Files[Name], s.Url("a/")));
        Assert.Contains($"{s.Url("a/")}: {Rewrapped.Length:N0} bytes, expected {Content.Length:N0}", error.Message);
    }

    [Fact]
    public async Task A_tampered_payload_of_the_pinned_size_is_rejected_naming_the_file_the_mirror_and_what_differs()
    {
        var payload = (byte[])Payload.Clone();
        payload[1000] ^= 0x01;
        var tampered = GzipFile.WithSize(payload, Content.Length);
        Directory.CreateDirectory(temp["mirror"]);
        File.WriteAllBytes(temp[Path.Combine("mirror", Name)], tampered);
        string hash = ContentHash.OfBytes(tampered), payloadHash = ContentHash.OfBytes(payload);

        var error = await Assert.ThrowsAsync<DownloadException>(() => Fetch(Files[Name] with { Payload = PayloadPin }, temp["mirror"]));
        Assert.Equal($"{Name}: no mirror gave a good copy:\n  {temp["mirror"]}: SHA-256 {hash} does not match the pinned {Files[Name].Sha256}; " +
            $"decompressed: SHA-256 {payloadHash} does not match the pinned payload {PayloadPin.Sha256}", error.Message);

        var payloadOnly = await Assert.ThrowsAsync<DownloadException>(() => Fetch(new PinnedFile(null, null, PayloadPin), temp["mirror"]));
        Assert.EndsWith($"{temp["mirror"]}: decompressed: SHA-256 {payloadHash} does not match the pinned payload {PayloadPin.Sha256}", payloadOnly.Message);
        Assert.Empty(Directory.EnumerateFiles(temp["out"]));
    }

    [Fact]
    public async Task A_payload_that_inflates_past_its_pinned_size_is_cut_off()
    {
        var bomb = GzipFile.Compress(new byte[50_000_000]);
        var s = Serve((_, _) => new Reply.Body(bomb));
        var error = await Assert.ThrowsAsync<DownloadException>(() => Fetch(new PinnedFile(null, null, PayloadPin), s.Url("a/")));
        Assert.Contains($"{s.Url("a/")}: decompressed: more than the pinned {Payload.Length:N0} bytes", error.Message);
    }

    [Fact]
    public async Task A_resumed_copy_spliced_from_two_differently_wrapped_mirrors_is_fetched_again_whole()
    {
        // Mirror a drops the connection after 50,000 bytes, then fails; mirror b wraps the same payload differently.
        int callsToA = 0;
        var s = Serve((mirror, _) => mirror == "a"
            ? Interlocked.Increment(ref callsToA) == 1 ? new Reply.Body(Content, CutAfter: 50_000) : new Reply.Status(503, "Service Unavailable")
            : new Reply.Body(Rewrapped));
        var pin = Files[Name] with { Payload = PayloadPin };
        Assert.Equal(Rewrapped, File.ReadAllBytes(await Fetch(pin, s.Url("a/"), s.Url("b/"))));
        Assert.Equal(new long?[] { 50_000, null }, s.Requests.Where(r => r.Path.StartsWith("/b/")).Select(r => r.RangeStart));
    }
}
