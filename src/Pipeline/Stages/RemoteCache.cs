using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Serilog;

namespace Pipeline.Stages;

/// <summary>
/// The run cache shared between machines over Bazel's HTTP cache protocol (served by nginx's WebDAV module,
/// bazel-remote and others): a run's record under <c>ac/&lt;fingerprint&gt;</c>; under <c>cas/&lt;sha256&gt;</c> its
/// output list (<see cref="OutputManifest"/>), its small files in packs (<see cref="Pack"/>) and each larger file. It is
/// the shared tier behind a <see cref="RunCache"/> (as bazel-remote's proxy): the run cache asks it for a record, fetches
/// the files it lacks through it (each checked against its size and SHA-256 before it is kept) and puts a recorded run
/// to it, what the server lacks first and the record last, so that a record is never served before its files. The
/// remote cache never fails a run: a problem is a warning and the stage runs as if the cache were empty.
/// </summary>
public sealed class RemoteCache : IDisposable
{
    /// <summary>Requests under way at once: many single files need many, a server needs a bound.</summary>
    public const int Parallelism = 16;

    /// <summary>Packs under way at once: each is held in memory (up to <see cref="Pack.TargetSize"/>) to be checked whole.</summary>
    public const int PackParallelism = 4;

    /// <summary>The largest output list fetched (its size is not recorded; its SHA-256 is).</summary>
    const long MaxOutputList = 1L << 30;

    readonly HttpClient http;
    readonly ILogger log;
    readonly TimeSpan timeout;
    /// <summary>Files the server served with wrong bytes of the right size: sent again when the stage has run (a HEAD sees only the size).</summary>
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> corrupt = new();

    /// <summary>The cache's base URL, ending in '/'; it never holds credentials, so it may be logged.</summary>
    public Uri Url { get; }

    /// <summary>False for read-only use (<c>--cache-upload=false</c>): runs are fetched, never sent.</summary>
    public bool Upload { get; }

    /// <param name="timeout">The longest wait for a connection, an answer or the next bytes of a body either way.</param>
    public RemoteCache(Uri url, ILogger log, bool upload = true, AuthenticationHeaderValue? authorization = null, TimeSpan? timeout = null)
    {
        Url = ParseUrl(url.ToString());
        (this.log, Upload, this.timeout) = (log, upload, timeout ?? TimeSpan.FromSeconds(30));
        http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = this.timeout,
            MaxConnectionsPerServer = Parallelism, // kept alive and reused: no connection per file
            AutomaticDecompression = DecompressionMethods.None,
        })
        { Timeout = Timeout.InfiniteTimeSpan }; // a body may take as long as it needs while bytes keep coming
        http.DefaultRequestHeaders.Authorization = authorization;
        http.DefaultRequestHeaders.UserAgent.ParseAdd("pipeline-cache/1.0");
    }

    /// <summary>A cache URL: http(s), a host, an optional path; never credentials (they would be logged and visible to other users).</summary>
    public static Uri ParseUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Host.Length == 0)
            throw new RemoteCacheException("expected http://HOST[:PORT]/PATH (or https://)");
        if (url.UserInfo.Length > 0)
            throw new RemoteCacheException("credentials do not belong in the URL, which is logged; set PIPELINE_CACHE_TOKEN, or PIPELINE_CACHE_USER and PIPELINE_CACHE_PASSWORD");
        if (url.Query.Length > 0 || url.Fragment.Length > 0)
            throw new RemoteCacheException("expected no query or fragment: http://HOST[:PORT]/PATH");
        return url.AbsolutePath.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
    }

    /// <summary>
    /// The Authorization header from the environment: <c>PIPELINE_CACHE_TOKEN</c> as a bearer token, or
    /// <c>PIPELINE_CACHE_USER</c> and <c>PIPELINE_CACHE_PASSWORD</c> for basic authentication; null when none is set.
    /// </summary>
    public static AuthenticationHeaderValue? Credentials(Func<string, string?> variable)
    {
        string? token = variable("PIPELINE_CACHE_TOKEN"), user = variable("PIPELINE_CACHE_USER"), password = variable("PIPELINE_CACHE_PASSWORD");
        if (!string.IsNullOrEmpty(token))
            return string.IsNullOrEmpty(user) && string.IsNullOrEmpty(password) ? new AuthenticationHeaderValue("Bearer", token)
                : throw new RemoteCacheException("PIPELINE_CACHE_TOKEN and PIPELINE_CACHE_USER/PIPELINE_CACHE_PASSWORD are both set: set one way to sign in");
        if (string.IsNullOrEmpty(user) != string.IsNullOrEmpty(password))
            throw new RemoteCacheException("PIPELINE_CACHE_USER and PIPELINE_CACHE_PASSWORD go together: set both, or neither");
        return string.IsNullOrEmpty(user) ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    /// <summary>
    /// The record of the run of <paramref name="stage"/> with this fingerprint on the server, checked before any of its
    /// files is fetched; null when the server has none. A problem throws (<see cref="IsCacheProblem"/> says which).
    /// </summary>
    public async Task<StageRecord?> GetRecordAsync(string stage, string fingerprint, CancellationToken cancellation = default)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.GetAsync(new Uri(Url, $"ac/{fingerprint}"), HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            log.Debug("{StageName}: not in the remote cache {Url}", stage, Url);
            return null;
        }
        Expect(response, $"ac/{fingerprint[..12]}");
        var record = JsonSerializer.Deserialize<StageRecord>(await response.Content.ReadAsByteArrayAsync(deadline.Token), CanonicalJson.Options);
        if (record is { Format: < StageRecord.CurrentFormat })
        {
            log.Information("{StageName}: the remote cache's ac/{Key} was {Why}: passed over, and replaced when the stage has run",
                stage, fingerprint[..12], StageRecord.OlderFormat);
            return null;
        }
        if (Problem(record, stage, fingerprint) is { } problem)
            throw new RemoteCacheException($"the record ac/{fingerprint[..12]} {problem}");
        return record;
    }

    /// <summary>The cache's log, where its warnings and transfers are said.</summary>
    public ILogger Log => log;

    /// <summary>The output list of <paramref name="run"/> (cas/&lt;output hash&gt;), checked against its hash, with its bytes.</summary>
    public async Task<(List<OutputFile> Outputs, byte[] Bytes)> GetOutputListAsync(StageRecord run, CancellationToken cancellation)
    {
        string name = $"cas/{run.OutputHash[..12]} (the output list)";
        using var list = new MemoryStream();
        await GetAsync(run.OutputHash, null, name, list, null, cancellation);
        byte[] bytes = list.ToArray();
        try { return (OutputManifest.Parse(bytes, run.OutputHash), bytes); }
        catch (Exception e) when (e is InvalidDataException or JsonException) { throw new RemoteCacheException($"{name}: {e.Message}"); }
    }

    /// <summary>The files of one of <paramref name="run"/>'s packs, the pack checked whole and each file against its own SHA-256.</summary>
    public async Task<List<(string Sha256, ReadOnlyMemory<byte> Body)>> GetPackAsync(StageRecord run, PackEntry pack, Progress progress, CancellationToken cancellation)
    {
        string name = $"cas/{pack.Sha256[..12]} (pack {run.Packs!.IndexOf(pack) + 1} of {run.Packs.Count}, {pack.Files:N0} files)";
        using var body = new MemoryStream((int)pack.Size);
        await GetAsync(pack.Sha256, pack.Size, name, body, progress, cancellation);
        try { return [.. Pack.Read(body.GetBuffer())]; }
        catch (InvalidDataException e) { throw new RemoteCacheException($"{name}: {e.Message}"); }
    }

    /// <summary>One file into <paramref name="target"/>, hashed as it arrives; a body of another size or hash is an error naming the file.</summary>
    public async Task GetFileAsync(OutputFile output, string target, Progress progress, CancellationToken cancellation)
    {
        await using var file = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        await GetAsync(output.Sha256, output.Size, $"cas/{output.Sha256[..12]} ({output.Path})", file, progress, cancellation);
    }

    /// <summary>
    /// cas/<paramref name="sha256"/> into <paramref name="target"/>, hashed as it arrives: a body of another size than
    /// <paramref name="size"/> (when known) or another SHA-256 is an error naming it.
    /// </summary>
    async Task GetAsync(string sha256, long? size, string name, Stream target, Progress? progress, CancellationToken cancellation)
    {
        try
        {
            await DownloadAsync(sha256, size, name, target, progress, cancellation);
        }
        catch (Exception e) when (e is not RemoteCacheException && IsCacheProblem(e, cancellation))
        {
            throw new RemoteCacheException($"{name}: {Describe(e)}");
        }
    }

    async Task DownloadAsync(string sha256, long? expected, string name, Stream target, Progress? progress, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.GetAsync(new Uri(Url, $"cas/{sha256}"), HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        Expect(response, name);
        await using var body = await response.Content.ReadAsStreamAsync(deadline.Token);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            long size = 0, limit = expected ?? MaxOutputList;
            while (true)
            {
                deadline.CancelAfter(timeout);
                int read = await body.ReadAsync(buffer, deadline.Token);
                if (read == 0) break;
                size += read;
                if (size > limit) throw new RemoteCacheException($"{name}: the body is longer than {(expected is null ? "the limit of" : "the recorded")} {limit:N0} bytes");
                hash.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), deadline.Token);
                progress?.Add(read);
            }
            if (expected is { } recorded && size != recorded)
                throw new RemoteCacheException($"{name}: {size:N0} bytes, recorded {recorded:N0}");
            if (Convert.ToHexStringLower(hash.GetHashAndReset()) != sha256)
            {
                corrupt[sha256] = true;
                throw new RemoteCacheException($"{name}: the body does not match its SHA-256");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends a recorded run whose <paramref name="outputs"/> are in <paramref name="folder"/>: each pack and larger file
    /// the server does not already have (HEAD), then the output list, then the record naming the packs. Does nothing for
    /// read-only use; a problem is a warning.
    /// </summary>
    public async Task UploadAsync(StageRecord record, IReadOnlyList<OutputFile> outputs, string folder, CancellationToken cancellation = default)
    {
        if (!Upload) return;
        var clock = Stopwatch.StartNew();
        try
        {
            var single = outputs.Where(o => !Pack.Packed(o)).DistinctBy(o => o.Sha256).ToList();
            var plan = Pack.Plan(outputs);
            var packs = new PackEntry[plan.Count];
            var progress = new Progress(log, $"{record.Stage} to the remote cache", single.Count + plan.Count, "entries");
            int sent = 0;
            long bytes = 0;
            async Task Send(string sha256, long size, Func<Stream> open, CancellationToken token)
            {
                if (corrupt.ContainsKey(sha256) || !await HasAsync(sha256, size, token))
                {
                    await PutAsync($"cas/{sha256}", open, size, token);
                    Interlocked.Increment(ref sent);
                    Interlocked.Add(ref bytes, size);
                }
                progress.Add(1);
            }
            await Parallel.ForEachAsync(single, Bounded(cancellation), (output, token) =>
                new ValueTask(Send(output.Sha256, output.Size, () => File.OpenRead(Path.Combine(folder, output.Path)), token)));
            await Parallel.ForEachAsync(Enumerable.Range(0, plan.Count), Bounded(cancellation, PackParallelism), async (i, token) =>
            {
                byte[] pack = Pack.Build(plan[i], folder);
                packs[i] = new PackEntry(ContentHash.OfBytes(pack), pack.Length, plan[i].Count);
                await Send(packs[i].Sha256, pack.Length, () => new MemoryStream(pack, writable: false), token);
            });
            string list = Path.Combine(folder, OutputManifest.FileName);
            await Send(record.OutputHash, new FileInfo(list).Length, () => File.OpenRead(list), cancellation);
            byte[] entry = Encoding.UTF8.GetBytes(CanonicalJson.Serialize(record with { Packs = [.. packs] }));
            await PutAsync($"ac/{record.Fingerprint}", () => new MemoryStream(entry, writable: false), entry.Length, cancellation);
            log.Information("{StageName}: uploaded to the remote cache {Url}: {Sent} entries, {Bytes} ({Present} already there; {Files} files in {Packs} packs and {Single} single) in {Seconds:0.00} s",
                record.Stage, Url, sent, Progress.Bytes(bytes), single.Count + plan.Count + 1 - sent, outputs.Count, plan.Count, single.Count, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (IsCacheProblem(e, cancellation))
        {
            log.Warning("remote cache {Url}: cannot upload {StageName}'s run ({Problem}); the run goes on", Url, record.Stage, Describe(e));
        }
    }

    /// <summary>Whether the server holds cas/<paramref name="sha256"/> whole already.</summary>
    async Task<bool> HasAsync(string sha256, long size, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(Url, $"cas/{sha256}")), deadline.Token);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        Expect(response, $"HEAD cas/{sha256[..12]}");
        return response.Content.Headers.ContentLength == size;
    }

    async Task PutAsync(string key, Func<Stream> open, long length, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.PutAsync(new Uri(Url, key), new BodyContent(open, length, () => deadline.CancelAfter(timeout)), deadline.Token);
        Expect(response, $"PUT {key[..Math.Min(key.Length, 16)]}");
    }

    /// <summary>A request's deadline: pushed back by each piece of a body that moves (see <see cref="BodyContent"/>).</summary>
    CancellationTokenSource Deadline(CancellationToken cancellation)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        return deadline;
    }

    public static ParallelOptions Bounded(CancellationToken cancellation, int parallelism = Parallelism) =>
        new() { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellation };

    static void Expect(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
            throw new RemoteCacheException($"{what}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd());
    }

    /// <summary>What a record fetched for (<paramref name="stage"/>, <paramref name="fingerprint"/>) must be before anything it names is fetched.</summary>
    static string? Problem(StageRecord? record, string stage, string fingerprint)
    {
        if (record is not { Stage: not null, Fingerprint: not null, Code: not null, Inputs: not null, OutputHash: not null, Tools: not null, Metrics: not null, Packs: not null }
            || record.Packs.Contains(null!) || !record.IsCurrent)
            return "is incomplete";
        if (record.Stage != stage || record.Fingerprint != fingerprint) return $"is another run ({record.Stage}, {record.Fingerprint})";
        if (!OutputManifest.IsSha256(record.OutputHash)) return "has no output hash";
        if (record.Packs.FirstOrDefault(p => !OutputManifest.IsSha256(p.Sha256) || p.Files < 1 || p.Size < 1 || p.Size > Pack.TargetSize + 20 + 40L * p.Files) is { } bad)
            return $"names a pack that cannot be one: {bad.Sha256}";
        return null;
    }

    /// <summary>A problem of the cache, not of the run: the user's Ctrl-C is not one.</summary>
    public static bool IsCacheProblem(Exception e, CancellationToken cancellation) =>
        e is HttpRequestException or IOException or JsonException or RemoteCacheException or UnauthorizedAccessException
        || e is OperationCanceledException && !cancellation.IsCancellationRequested;

    public string Describe(Exception e) => e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : e.Message;

    public void Dispose() => http.Dispose();

    /// <summary>A body (a file, a pack, a record) that pushes the request's deadline back as each piece is sent.</summary>
    sealed class BodyContent(Func<Stream> open, long size, Action progressed) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellation)
        {
            await using var body = open();
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
            try
            {
                int read;
                while ((read = await body.ReadAsync(buffer, cancellation)) > 0)
                {
                    progressed();
                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellation);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, default);

        protected override bool TryComputeLength(out long length)
        {
            length = size;
            return true;
        }
    }
}

/// <summary>What went wrong with the remote cache; said as a warning, never a failed run (or, for a bad URL, a usage error).</summary>
public sealed class RemoteCacheException(string message) : PipelineException(message);
