using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>
/// The run cache shared over Bazel's HTTP cache protocol, through the host: a real nginx from the repository's
/// configuration, and a loopback server that fails. The run never fails because the cache did (the server faults one by
/// one: <see cref="RemoteCacheFaultTests"/>).
/// </summary>
[Trait("Category", "Integration")]
public class RemoteCacheTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string[] Pipeline(string artifacts, string url, params string[] more) =>
        [$"--artifacts={temp[artifacts]}", $"--mirror={TestHost.MnistMirror}", $"--cache-url={url}", .. more];

    [Fact]
    public async Task A_second_artifacts_folder_restores_every_stage_from_nginx_byte_for_byte()
    {
        using var nginx = new Nginx();
        string[] export = ["--target=Export", "--set=export.limit=20"];
        var first = await HostTests.Host(Pipeline("first", nginx.Url, export));
        Assert.True(first.ExitCode == 0, first.Output + first.Error);
        string[] stages = ["Download", "Verify", "Export"];
        Assert.All(stages, s => Assert.Contains("executed", first.Row(s)));

        int sent = nginx.Requests.Count;
        var second = await HostTests.Host(Pipeline("second", nginx.Url, export));
        Assert.True(second.ExitCode == 0, second.Output + second.Error);
        Assert.All(stages, s => Assert.Contains("restored (remote cache)", second.Row(s)));
        foreach (var stage in stages.Select(s => s.ToLowerInvariant()))
        {
            Assert.Equal(HostTests.Outputs(Path.Combine(temp["first"], stage)), HostTests.Outputs(Path.Combine(temp["second"], stage)));
            Assert.True(File.Exists(Path.Combine(nginx.Entries, "ac", StageRecord.TryRead(Path.Combine(temp["first"], stage))!.Fingerprint)));
        }
        Assert.All(nginx.Requests.Skip(sent), r => Assert.StartsWith("GET ", r)); // restored runs are not sent back
        // A restore is a few large transfers: per stage its output list, its packs and its larger files, not a request per file.
        var restored = stages.Select(s => new ArtifactStore(temp["first"]).Outputs(s.ToLowerInvariant())!).ToList();
        int entries = restored.Sum(o => 1 + Pack.Plan(o).Count + o.Where(f => !Pack.Packed(f)).DistinctBy(f => f.Sha256).Count());
        Assert.InRange(nginx.Requests.Skip(sent).Count(r => r.StartsWith("GET /cas/")), 1, entries);
        Assert.True(restored[^1].Count > 2 * entries, $"Export wrote {restored[^1].Count} files, fetched in at most {entries} requests");

        // The restored records are ordinary records: the next run finds every stage up to date.
        var third = await HostTests.Host(Pipeline("second", nginx.Url, export));
        Assert.All(stages, s => Assert.Contains("skipped (up to date)", third.Row(s)));
    }

    [Fact]
    public async Task A_read_only_run_sends_nothing_and_a_warm_server_receives_no_file_twice()
    {
        using var nginx = new Nginx();
        var readOnly = await HostTests.Host(Pipeline("a", nginx.Url, "--target=Download", "--cache-upload=false"));
        Assert.Contains("executed", readOnly.Row("Download"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(nginx.Entries));
        Assert.All(nginx.Requests, r => Assert.StartsWith("GET /ac/", r));

        var cold = await HostTests.Host(Pipeline("a", nginx.Url, "--target=Download", "--force"));
        Assert.Contains("executed", cold.Row("Download"));
        var outputs = new ArtifactStore(temp["a"]).Outputs("download")!;
        // One entry per pack of small files, per larger file and for the output list.
        int entries = Pack.Plan(outputs).Count + outputs.Where(o => !Pack.Packed(o)).DistinctBy(o => o.Sha256).Count() + 1;
        Assert.Equal(entries, nginx.Requests.Count(r => r.StartsWith("PUT /cas/")));

        int before = nginx.Requests.Count;
        var warm = await HostTests.Host(Pipeline("a", nginx.Url, "--target=Download", "--force"));
        Assert.Contains("executed", warm.Row("Download"));
        var again = nginx.Requests.Skip(before).ToList();
        Assert.Equal(entries, again.Count(r => r.StartsWith("HEAD /cas/")));
        Assert.Equal(["PUT /ac/"], again.Where(r => r.StartsWith("PUT ")).Select(r => r[..8]));
    }

    [Fact]
    public async Task A_file_corrupted_on_nginx_makes_its_stage_run_and_is_replaced_by_the_good_copy()
    {
        using var nginx = new Nginx();
        Assert.Contains("executed", (await HostTests.Host(Pipeline("first", nginx.Url, "--target=Download"))).Row("Download"));
        var file = new ArtifactStore(temp["first"]).Outputs("download")!.First(o => o.Path.EndsWith(".gz") && !Pack.Packed(o));
        string served = Path.Combine(nginx.Entries, "cas", file.Sha256);
        byte[] good = File.ReadAllBytes(served), bad = [.. good];
        bad[bad.Length / 2] ^= 1;
        File.WriteAllBytes(served, bad); // the same size: only the hash tells

        var second = await HostTests.Host(Pipeline("second", nginx.Url, "--target=Download"));
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("executed", second.Row("Download"));
        Assert.Contains($"cannot restore download (cas/{file.Sha256[..12]} ({file.Path}): the body does not match its SHA-256)", second.Output);
        Assert.Equal(HostTests.Outputs(Path.Combine(temp["first"], "download")), HostTests.Outputs(Path.Combine(temp["second"], "download")));
        Assert.Equal(good, File.ReadAllBytes(served)); // sent again by the run that replaced it
    }

    [Fact]
    public async Task The_token_is_sent_never_logged_and_a_failing_server_never_fails_the_run()
    {
        const string token = "s3cret-cache-token-81f2";
        await using var server = new LoopbackServer(_ => new Reply.Status(500, "Internal Server Error"));
        var run = await HostTests.HostWith(new Dictionary<string, string> { ["PIPELINE_CACHE_TOKEN"] = token },
            Pipeline("artifacts", server.Url("cache"), "--target=Download"));

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("executed", run.Row("Download"));
        Assert.Contains("cannot restore download (ac/", run.Output);
        Assert.Contains("cannot upload download's run (HEAD cas/", run.Output);
        Assert.All(server.Requests, r => Assert.Contains($"Authorization: Bearer {token}", r.Headers));
        Assert.Contains(server.Requests, r => r.Path.StartsWith("/cache/ac/"));
        string logs = string.Concat(Directory.EnumerateFiles(temp["artifacts/logs"]).Select(File.ReadAllText));
        Assert.DoesNotContain(token, run.Output + run.Error + logs);
    }

    [Fact]
    public async Task A_bad_cache_url_or_half_given_credentials_stop_the_run_at_once_naming_them()
    {
        var scheme = await HostTests.Host("--target=Download", "--cache-url=ftp://cache.example/");
        Assert.Equal(2, scheme.ExitCode);
        Assert.Contains("--cache-url=ftp://cache.example/: expected http://HOST[:PORT]/PATH", scheme.Error);

        var password = await HostTests.Host("--target=Download", "--cache-url=http://me:pa55word@cache.example/");
        Assert.Equal(2, password.ExitCode);
        Assert.Contains("--cache-url: credentials do not belong in the URL", password.Error);
        Assert.DoesNotContain("pa55word", password.Output + password.Error);

        var variable = await HostTests.HostWith(new Dictionary<string, string> { ["PIPELINE_CACHE_URL"] = "cache.example:8080" }, "--target=Download");
        Assert.Equal(2, variable.ExitCode);
        Assert.Contains("PIPELINE_CACHE_URL=cache.example:8080: expected", variable.Error);

        var half = await HostTests.HostWith(new Dictionary<string, string> { ["PIPELINE_CACHE_USER"] = "me" },
            $"--artifacts={temp["half"]}", "--target=Download", "--cache-url=http://127.0.0.1:9/");
        Assert.Equal(2, half.ExitCode);
        Assert.Contains("PIPELINE_CACHE_USER and PIPELINE_CACHE_PASSWORD go together", half.Output + half.Error);
        Assert.Null(StageRecord.TryRead(Path.Combine(temp["half"], "download")));
    }
}

/// <summary>The remote cache against in-process loopback servers that fail in the ways real ones do.</summary>
[Trait("Category", "Unit")]
public class RemoteCacheFaultTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly CheckpointTests.Collector log = new();

    public void Dispose() => temp.Dispose();

    // A stage of 40 small files of different sizes (one pack) and one larger file (a single entry), run by the engine as the host runs it.
    static readonly StageDefinition Parts = new("parts", new { files = 41 });

    static string Part(int i) => $"part {i}\n" + new string((char)('a' + i % 26), 500 * i);

    static Task<StageRecord> Produce(ArtifactStore store) => store.RunAsync(Parts, WriteParts);

    static readonly Func<StageWorkspace, CancellationToken, Task> WriteParts = async (workspace, _) =>
    {
        Directory.CreateDirectory(workspace.PathOf("parts"));
        for (int i = 0; i < 40; i++) await File.WriteAllTextAsync(workspace.PathOf($"parts/{i}.txt"), Part(i));
        await File.WriteAllTextAsync(workspace.PathOf("large.txt"), new string('z', (int)Pack.SmallFile + 1));
    };

    // What the warning says (a regular expression): a body cut short reads as either, depending on when the reset arrives.
    public static TheoryData<string, string> Faults => new()
    {
        { "record 500", "HTTP 500" },
        { "record of another run", "is another run" },
        { "list with a wrong body", "does not match its SHA-256" },
        { "pack 500", "HTTP 500" },
        { "pack truncated", "ended prematurely|Connection reset by peer" },
        { "pack with a wrong body", "does not match its SHA-256" },
        { "pack stalls", "no answer within 1 s" },
        { "pack holding a wrong file", "does not match its SHA-256" },
        { "file 500", "HTTP 500" },
        { "file truncated", "ended prematurely|Connection reset by peer" },
        { "file with a wrong body", "does not match its SHA-256" },
        { "file stalls", "no answer within 1 s" },
        { "refused", "Connection refused" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_failing_server_makes_the_stage_run_and_keeps_no_byte_it_did_not_verify(string fault, string said)
    {
        var source = new ArtifactStore(temp["source"]) { Cache = new RunCache(temp["source/.cache"], _ => { }) };
        var record = await Produce(source);
        string folder = source.StageDirectory("parts");
        var outputs = source.Outputs("parts")!;
        // What an upload puts on the server: the files by hash, the output list, one pack of the 40 small files, the record.
        var entries = outputs.ToDictionary(o => o.Sha256, o => File.ReadAllBytes(Path.Combine(folder, o.Path)));
        entries[record.OutputHash] = File.ReadAllBytes(Path.Combine(folder, OutputManifest.FileName));
        var plan = Assert.Single(Pack.Plan(outputs));
        Assert.Equal(40, plan.Count);
        byte[] pack = Pack.Build(plan, folder);
        var victim = outputs.Single(o => !Pack.Packed(o));
        byte[] wrong = [.. entries[victim.Sha256]], wrongPack = [.. pack];
        wrong[^2] ^= 1;
        wrongPack[^2] ^= 1;
        string packSha = ContentHash.OfBytes(fault == "pack holding a wrong file" ? wrongPack : pack);
        entries[packSha] = fault == "pack holding a wrong file" ? wrongPack : pack;
        byte[] recordBytes = Encoding.UTF8.GetBytes(CanonicalJson.Serialize(record with { Packs = [new PackEntry(packSha, pack.Length, 40)] }));

        await using var server = new LoopbackServer(request => (fault, request.Path) switch
        {
            ("record 500", _) => new Reply.Status(500, "Internal Server Error"),
            ("record of another run", _) => new Reply.Body(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(recordBytes).Replace(record.Fingerprint, new string('0', 64)))),
            (_, var path) when path == $"/ac/{record.Fingerprint}" => new Reply.Body(recordBytes),
            ("list with a wrong body", var path) when path == $"/cas/{record.OutputHash}" => new Reply.Body(wrong),
            (_, var path) when path == $"/cas/{packSha}" && fault.StartsWith("pack ") => fault switch
            {
                "pack 500" => new Reply.Status(500, "Internal Server Error"),
                "pack truncated" => new Reply.Body(pack, CutAfter: pack.Length / 2),
                "pack with a wrong body" => new Reply.Body(wrongPack),
                "pack stalls" => new Reply.Body(pack, StallAfter: 10),
                _ => new Reply.Body(entries[packSha]),
            },
            (_, var path) when path == $"/cas/{victim.Sha256}" && fault.StartsWith("file ") => fault switch
            {
                "file 500" => new Reply.Status(500, "Internal Server Error"),
                "file truncated" => new Reply.Body(entries[victim.Sha256], CutAfter: victim.Size / 2),
                "file with a wrong body" => new Reply.Body(wrong),
                _ => new Reply.Body(entries[victim.Sha256], StallAfter: 10),
            },
            (_, var path) when path.StartsWith("/cas/") && entries.TryGetValue(path["/cas/".Length..], out var body) => new Reply.Body(body),
            _ => new Reply.Status(404, "Not Found"),
        });
        string url = fault == "refused" ? $"http://127.0.0.1:{Nginx.FreePort()}/" : server.Url();

        var target = new ArtifactStore(temp["target"])
        {
            Cache = new RunCache(temp["target/.cache"], _ => { })
            {
                // 1 s where the server stalls; elsewhere long enough that a loaded machine does not read as a stall.
                Shared = new RemoteCache(new Uri(url), log.Logger, upload: false, timeout: TimeSpan.FromSeconds(fault.EndsWith("stalls") ? 1 : 30)),
            },
        };
        var runner = new StageRunner(target);
        var decision = await runner.DecideAsync(Parts, force: false);
        // A bad record is found out while deciding; a bad list, pack or file while fetching: either way the stage runs.
        Assert.Equal(fault.StartsWith("record") || fault == "refused" ? StageAction.Run : StageAction.RestoreShared, decision.Action);
        var (ran, done) = await runner.CarryOutAsync(Parts, decision, WriteParts);
        Assert.Equal(StageAction.Run, done);
        var warning = Assert.Single(log.Warnings);
        Assert.True(Regex.IsMatch(warning, said), $"expected /{said}/ in: {warning}");
        Assert.Contains("it runs as if the cache were empty", warning);
        if (fault.StartsWith("file")) Assert.Contains($"cas/{victim.Sha256[..12]} ({victim.Path})", warning);
        if (fault.StartsWith("pack")) Assert.Contains($"cas/{packSha[..12]} (pack 1 of 1, 40 files)", warning);
        if (fault.StartsWith("list")) Assert.Contains($"cas/{record.OutputHash[..12]} (the output list)", warning);
        Assert.Equal(record.OutputHash, ran.OutputHash);
        // Nothing unverified is kept: every kept file is what its name says, and no partial download is left.
        foreach (var kept in Directory.EnumerateFiles(temp["target/.cache/objects"], "*", SearchOption.AllDirectories))
            Assert.Equal(Path.GetFileName(kept), ContentHash.OfFile(kept));
        Assert.Empty(Directory.EnumerateDirectories(temp["target/.cache"], "incoming-*"));
        Assert.DoesNotContain(Directory.EnumerateFiles(temp["target"], "*", SearchOption.AllDirectories),
            f => File.ReadAllBytes(f).AsSpan().SequenceEqual(wrong));
    }

    [Fact]
    public async Task A_record_of_the_earlier_format_on_the_server_is_passed_over_and_nothing_it_names_is_fetched()
    {
        var source = new ArtifactStore(temp["source"]);
        var record = await Produce(source);
        // What an earlier version put under ac/: no format, every output listed in the record, its files under cas/.
        var old = System.Text.Json.Nodes.JsonNode.Parse(CanonicalJson.Serialize(record))!.AsObject();
        foreach (var key in new[] { "format", "output_files", "output_bytes", "output_stamp" }) old.Remove(key);
        old["outputs"] = System.Text.Json.Nodes.JsonNode.Parse(Encoding.UTF8.GetString(OutputManifest.Serialize(source.Outputs("parts")!)));
        var asked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = new LoopbackServer(request =>
        {
            asked.Enqueue(request.Path);
            return request.Path == $"/ac/{record.Fingerprint}" ? new Reply.Body(Encoding.UTF8.GetBytes(old.ToJsonString())) : new Reply.Status(404, "Not Found");
        });
        var target = new ArtifactStore(temp["target"])
        {
            Cache = new RunCache(temp["target/.cache"], _ => { })
            {
                Shared = new RemoteCache(new Uri(server.Url()), log.Logger, upload: false),
            },
        };
        var runner = new StageRunner(target);
        var decision = await runner.DecideAsync(Parts, force: false);
        Assert.Equal(StageAction.Run, decision.Action);
        var (ran, done) = await runner.CarryOutAsync(Parts, decision, WriteParts);
        Assert.Equal((StageAction.Run, record.OutputHash), (done, ran.OutputHash));
        Assert.Equal([$"/ac/{record.Fingerprint}"], asked); // no file it names was fetched
        Assert.Empty(log.Warnings); // an old entry is not a fault of the server
    }

    [Fact]
    public void A_pack_holds_each_small_file_once_and_gives_back_each_checked()
    {
        string folder = temp["pack"];
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "a.txt"), "alpha");
        File.WriteAllText(Path.Combine(folder, "b.txt"), "alpha");
        File.WriteAllText(Path.Combine(folder, "c.txt"), "gamma, longer");
        var outputs = new[] { "a.txt", "b.txt", "c.txt" }.Select(f => new OutputFile(f, new FileInfo(Path.Combine(folder, f)).Length,
            ContentHash.OfFile(Path.Combine(folder, f)))).ToList();
        var plan = Assert.Single(Pack.Plan(outputs));
        Assert.Equal(["a.txt", "c.txt"], plan.Select(o => o.Path));
        byte[] pack = Pack.Build(plan, folder);
        Assert.Equal([(outputs[0].Sha256, "alpha"), (outputs[2].Sha256, "gamma, longer")],
            Pack.Read(pack).Select(f => (f.Sha256, Encoding.UTF8.GetString(f.Body.Span))));
        pack[^1] ^= 1;
        Assert.Contains("does not match its SHA-256", Assert.Throws<InvalidDataException>(() => Pack.Read(pack).ToList()).Message);
        Assert.Contains("follow its last file", Assert.Throws<InvalidDataException>(() => Pack.Read([.. pack, 0]).ToList()).Message);
    }
}

/// <summary>
/// nginx serving an empty cache from the repository's build/cache/nginx.conf on a free loopback port, started and
/// stopped by build/cache/nginx.sh as .ci/run does. ./test.sh installs nginx; a test never does.
/// </summary>
sealed class Nginx : IDisposable
{
    readonly TempFolder folder = new();

    public string Url { get; }

    /// <summary>The folder nginx serves: ac/ and cas/ appear in it.</summary>
    public string Entries => folder["cache"];

    /// <summary>The requests answered so far, as "METHOD /path STATUS", from nginx's access log.</summary>
    public IReadOnlyList<string> Requests => [.. File.ReadLines(folder["logs/access.log"])
        .Select(line => Regex.Match(line, "\"([A-Z]+) (\\S+) HTTP/[0-9.]+\" ([0-9]+)"))
        .Select(m => $"{m.Groups[1]} {m.Groups[2]} {m.Groups[3]}")];

    public static bool Installed => File.Exists("/usr/sbin/nginx")
        || (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, "nginx")));

    public Nginx()
    {
        if (!Installed)
            throw new InvalidOperationException("nginx is not installed: run ./test.sh, which installs it (build/cache/nginx.sh install)");
        // Another process may take the free port before nginx does: then another one.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                Url = Script("start", folder.Path, FreePort().ToString()).Trim();
                return;
            }
            catch (InvalidOperationException) when (attempt < 3) { }
        }
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    static string Script(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(TestHost.Root, "build", "cache", "nginx.sh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"build/cache/nginx.sh {string.Join(' ', args)}: {error.Result}");
    }

    public void Dispose()
    {
        Script("stop", folder.Path);
        folder.Dispose();
    }
}
