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
/// bazel-remote and others): a run's record under <c>ac/&lt;fingerprint&gt;</c>, each output file under
/// <c>cas/&lt;sha256&gt;</c>. It is the shared tier behind a <see cref="RunCache"/> (as bazel-remote's proxy): the run
/// cache asks it for a record, fetches the files it lacks through it (each checked against its size and SHA-256 before
/// it is kept) and puts a recorded run to it, the files the server lacks first and the record last, so that a record is
/// never served before its files. The remote cache never fails a run: a problem is a warning and the stage runs as if
/// the cache were empty.
/// </summary>
public sealed class RemoteCache : IDisposable
{
    /// <summary>Requests under way at once: Export's 70,000 small files need many, a server needs a bound.</summary>
    public const int Parallelism = 16;

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
        if (Problem(record, stage, fingerprint) is { } problem)
            throw new RemoteCacheException($"the record ac/{fingerprint[..12]} {problem}");
        return record;
    }

    /// <summary>The cache's log, where its warnings and transfers are said.</summary>
    public ILogger Log => log;

    /// <summary>One file into <paramref name="target"/>, hashed as it arrives; a body of another size or hash is an error naming the file.</summary>
    public async Task GetFileAsync(OutputFile output, string target, Progress progress, CancellationToken cancellation)
    {
        string name = $"cas/{output.Sha256[..12]} ({output.Path})";
        try
        {
            await DownloadAsync(output, name, target, progress, cancellation);
        }
        catch (Exception e) when (e is not RemoteCacheException && IsCacheProblem(e, cancellation))
        {
            throw new RemoteCacheException($"{name}: {Describe(e)}");
        }
    }

    async Task DownloadAsync(OutputFile output, string name, string target, Progress progress, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.GetAsync(new Uri(Url, $"cas/{output.Sha256}"), HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        Expect(response, name);
        await using var body = await response.Content.ReadAsStreamAsync(deadline.Token);
        await using var file = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            long size = 0;
            while (true)
            {
                deadline.CancelAfter(timeout);
                int read = await body.ReadAsync(buffer, deadline.Token);
                if (read == 0) break;
                size += read;
                if (size > output.Size) throw new RemoteCacheException($"{name}: the body is longer than the recorded {output.Size:N0} bytes");
                sha256.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), deadline.Token);
                progress.Add(read);
            }
            if (size != output.Size)
                throw new RemoteCacheException($"{name}: {size:N0} bytes, recorded {output.Size:N0}");
            if (Convert.ToHexStringLower(sha256.GetHashAndReset()) != output.Sha256)
            {
                corrupt[output.Sha256] = true;
                throw new RemoteCacheException($"{name}: the body does not match its SHA-256");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends a recorded run whose files are in <paramref name="folder"/>: each file the server does not already have
    /// (HEAD), then the record. Does nothing for read-only use; a problem is a warning.
    /// </summary>
    public async Task UploadAsync(StageRecord record, string folder, CancellationToken cancellation = default)
    {
        if (!Upload) return;
        var clock = Stopwatch.StartNew();
        try
        {
            var files = record.Outputs.DistinctBy(o => o.Sha256).ToList();
            var progress = new Progress(log, $"{record.Stage} to the remote cache", files.Count, "files");
            int sent = 0;
            long bytes = 0;
            await Parallel.ForEachAsync(files, Bounded(cancellation), async (output, token) =>
            {
                if (corrupt.ContainsKey(output.Sha256) || !await HasAsync(output, token))
                {
                    await PutAsync($"cas/{output.Sha256}", Path.Combine(folder, output.Path), token);
                    Interlocked.Increment(ref sent);
                    Interlocked.Add(ref bytes, output.Size);
                }
                progress.Add(1);
            });
            await PutAsync($"ac/{record.Fingerprint}", Path.Combine(folder, StageRecord.FileName), cancellation);
            log.Information("{StageName}: uploaded to the remote cache {Url}: {Sent} files, {Bytes} ({Present} already there) in {Seconds:0.00} s",
                record.Stage, Url, sent, Progress.Bytes(bytes), files.Count - sent, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (IsCacheProblem(e, cancellation))
        {
            log.Warning("remote cache {Url}: cannot upload {StageName}'s run ({Problem}); the run goes on", Url, record.Stage, Describe(e));
        }
    }

    /// <summary>Whether the server holds this file whole already.</summary>
    async Task<bool> HasAsync(OutputFile output, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(Url, $"cas/{output.Sha256}")), deadline.Token);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        Expect(response, $"HEAD cas/{output.Sha256[..12]}");
        return response.Content.Headers.ContentLength == output.Size;
    }

    async Task PutAsync(string key, string file, CancellationToken cancellation)
    {
        using var deadline = Deadline(cancellation);
        using var response = await http.PutAsync(new Uri(Url, key), new FileContent(file, () => deadline.CancelAfter(timeout)), deadline.Token);
        Expect(response, $"PUT {key[..Math.Min(key.Length, 16)]}");
    }

    /// <summary>A request's deadline: pushed back by each piece of a body that moves (see <see cref="FileContent"/>).</summary>
    CancellationTokenSource Deadline(CancellationToken cancellation)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        return deadline;
    }

    public static ParallelOptions Bounded(CancellationToken cancellation) => new() { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellation };

    static void Expect(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
            throw new RemoteCacheException($"{what}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd());
    }

    /// <summary>What a record fetched for (<paramref name="stage"/>, <paramref name="fingerprint"/>) must be before any of its files is fetched.</summary>
    static string? Problem(StageRecord? record, string stage, string fingerprint)
    {
        if (record is not { Stage: not null, Fingerprint: not null, Code: not null, Inputs: not null, Outputs: not null, OutputHash: not null, Tools: not null, Metrics: not null }
            || record.Outputs.Contains(null!))
            return "is incomplete";
        if (record.Stage != stage || record.Fingerprint != fingerprint) return $"is another run ({record.Stage}, {record.Fingerprint})";
        if (record.Outputs.FirstOrDefault(o => !IsSha256(o.Sha256) || !IsSafePath(o.Path)) is { } bad) return $"names an output that cannot be placed: {bad.Path}";
        if (StageRecord.HashOutputs(record.Outputs) != record.OutputHash) return "lists outputs that do not give its output hash";
        return null;
    }

    static bool IsSha256(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigitLower);

    /// <summary>A path inside the stage folder: relative, '/'-separated, without empty, '.' or '..' parts.</summary>
    static bool IsSafePath(string path) =>
        !Path.IsPathRooted(path) && !path.Contains('\\') && path.Split('/').All(part => part is not ("" or "." or ".."));

    /// <summary>A problem of the cache, not of the run: the user's Ctrl-C is not one.</summary>
    public static bool IsCacheProblem(Exception e, CancellationToken cancellation) =>
        e is HttpRequestException or IOException or JsonException or RemoteCacheException or UnauthorizedAccessException
        || e is OperationCanceledException && !cancellation.IsCancellationRequested;

    public string Describe(Exception e) => e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#} s" : e.Message;

    public void Dispose() => http.Dispose();

    /// <summary>A file as a request body that pushes the request's deadline back as each piece is sent.</summary>
    sealed class FileContent(string path, Action progressed) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellation)
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
            try
            {
                int read;
                while ((read = await file.ReadAsync(buffer, cancellation)) > 0)
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
            length = new FileInfo(path).Length;
            return true;
        }
    }
}

/// <summary>What went wrong with the remote cache; said as a warning, never a failed run (or, for a bad URL, a usage error).</summary>
public sealed class RemoteCacheException(string message) : PipelineException(message);
