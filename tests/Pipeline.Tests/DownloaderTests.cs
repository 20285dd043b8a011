using System.IO.Compression;
using System.Text;
using Pipeline.Acquisition;
using Pipeline.Stages;
using Serilog.Core;

namespace Pipeline.Tests;

public class DownloaderTests : IAsyncDisposable
{
    const string Name = "data-idx1-ubyte.gz";
    static readonly byte[] Content = MakeGzip(300_000);
    static readonly Dictionary<string, PinnedFile> Files = new() { [Name] = new PinnedFile(Content.Length, ContentHash.OfBytes(Content)) };

    readonly TempFolder temp = new();
    readonly DownloadOptions fast = new() { Retries = 2, ReadTimeout = TimeSpan.FromSeconds(1), FirstBackoff = TimeSpan.FromMilliseconds(10) };
    LoopbackServer? server;

    public async ValueTask DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
        temp.Dispose();
    }

    static byte[] MakeGzip(int size)
    {
        var raw = new byte[size];
        new Random(7).NextBytes(raw.AsSpan(0, size / 2)); // half noise, half zeros: a realistic ratio
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest)) gzip.Write(raw);
        return buffer.ToArray();
    }

    // Mirrors are folders on one server: /a/, /b/, /c/, each with its own behaviour.
    LoopbackServer Serve(Func<string, LoopbackServer.Request, Reply> byMirror) =>
        server = new LoopbackServer(r => byMirror(r.Path.Split('/')[1], r));

    async Task<string> Fetch(params string[] mirrors)
    {
        using var downloader = new Downloader(fast, Logger.None);
        await downloader.FetchAllAsync(Files, mirrors, temp["out"], [temp["salvage"]]);
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
}
