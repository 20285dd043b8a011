using System.Net;
using System.Net.Http.Headers;
using Pipeline.Stages;
using Serilog;

namespace Pipeline.Acquisition;

public sealed record DownloadOptions
{
    /// <summary>Extra attempts per mirror after a transient failure (timeout, dropped connection, 5xx).</summary>
    public int Retries { get; init; } = 3;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Longest wait for the response headers or for the next bytes of the body.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Fetches pinned files from mirrors in order: local folders are copied, HTTP(S) is streamed with timeouts, retries
/// with backoff, and resume of a partial file (HTTP Range). A file is kept only when it passes its pin
/// (<see cref="PinnedFile.Check(string)"/>: the bytes, or else the decompressed payload); when every mirror fails,
/// one error lists each mirror and what did not match.
/// </summary>
public sealed class Downloader : IDisposable
{
    readonly DownloadOptions options;
    readonly ILogger log;
    readonly HttpClient http;

    public Downloader(DownloadOptions options, ILogger log)
    {
        this.options = options;
        this.log = log;
        http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None, // the .gz files are the content; never inflate them
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("pipeline-download/1.0");
    }

    /// <summary>
    /// Downloads every file into <paramref name="destination"/> in parallel. Partial (<c>.part</c>) or complete
    /// copies found in <paramref name="salvage"/> folders are reused: a partial is resumed, a complete one kept
    /// only if its checksum matches.
    /// </summary>
    public async Task FetchAllAsync(IReadOnlyDictionary<string, PinnedFile> files, IReadOnlyList<string> mirrors,
        string destination, IEnumerable<string?> salvage, CancellationToken cancellation = default)
    {
        if (mirrors.Count == 0)
            throw new DownloadException("no mirrors to download from");
        Directory.CreateDirectory(destination);
        var salvageFolders = salvage.OfType<string>().Where(Directory.Exists).ToList();
        // A file pinned by its payload alone has no known size until served: its payload size stands in.
        var progress = new Progress(log, "download", files.Values.Sum(f => f.Size ?? f.Payload?.Size ?? 0), "bytes");
        var results = await Task.WhenAll(files.Select(async f =>
        {
            try
            {
                await FetchAsync(f.Key, f.Value, mirrors, destination, salvageFolders, progress, cancellation);
                return null;
            }
            catch (DownloadException e)
            {
                return e.Message;
            }
        }));
        progress.Complete();
        var failures = results.OfType<string>().ToList();
        if (failures.Count > 0)
            throw new DownloadException(string.Join("\n", failures));
    }

    async Task FetchAsync(string name, PinnedFile pin, IReadOnlyList<string> mirrors, string destination,
        List<string> salvage, Progress progress, CancellationToken cancellation)
    {
        string target = Path.Combine(destination, name), part = target + ".part";
        if (Salvage(name, pin, target, part, salvage))
        {
            progress.Add(new FileInfo(target).Length);
            return;
        }

        var answers = new List<string>();
        foreach (var mirror in mirrors)
        {
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    bool resumed = await FetchFromAsync(mirror, name, pin, part, progress, cancellation);
                    string? problem = pin.Check(part, out bool byPayload);
                    if (problem is null)
                    {
                        File.Move(part, target, overwrite: true);
                        if (byPayload && pin.HasWrapperPin)
                            log.Information("{File}: the copy from {Mirror} is wrapped differently from the pinned one; its decompressed content matches the payload pin", name, mirror);
                        else
                            log.Debug("{File}: verified, from {Mirror}", name, mirror);
                        return;
                    }
                    File.Delete(part);
                    if (resumed)
                    {
                        // The earlier bytes may be another mirror's wrapper of the same data: try this one whole.
                        log.Warning("{File} from {Mirror}: the resumed copy failed its check ({Problem}); fetching it whole", name, mirror, problem);
                        continue;
                    }
                    answers.Add($"{mirror}: {problem}");
                    break;
                }
                catch (TransientFailure e) when (attempt < options.Retries)
                {
                    var wait = options.FirstBackoff * Math.Pow(2, attempt);
                    log.Warning("{File} from {Mirror}: {Problem}; retry {Attempt} of {Retries} in {Wait:0.0} s",
                        name, mirror, e.Message, attempt + 1, options.Retries, wait.TotalSeconds);
                    await Task.Delay(wait, cancellation);
                }
                catch (MirrorFailure e)
                {
                    answers.Add($"{mirror}: {e.Message}{(e is TransientFailure ? $" (after {attempt + 1} attempts)" : "")}");
                    break;
                }
            }
        }
        if (File.Exists(part) && new FileInfo(part).Length >= pin.Size)
            File.Delete(part);
        throw new DownloadException($"{name}: no mirror gave a good copy:\n  {string.Join("\n  ", answers)}");
    }

    /// <summary>Reuses a verified complete copy, or moves a partial one into place to be resumed.</summary>
    bool Salvage(string name, PinnedFile pin, string target, string part, List<string> folders)
    {
        foreach (var folder in folders)
        {
            string complete = Path.Combine(folder, name);
            if (File.Exists(complete) && pin.Check(complete) is null)
            {
                File.Copy(complete, target, overwrite: true);
                log.Debug("{File}: reused a verified copy from {Folder}", name, folder);
                return true;
            }
        }
        foreach (var folder in folders)
        {
            string partial = Path.Combine(folder, name + ".part");
            if (File.Exists(partial) && (pin.Size is not { } size || new FileInfo(partial).Length < size))
            {
                File.Move(partial, part, overwrite: true);
                log.Information("{File}: resuming a partial download of {Bytes}", name, Progress.Bytes(new FileInfo(part).Length));
                return false;
            }
        }
        return false;
    }

    /// <summary>True for an HTTP(S) mirror; anything else is a folder (a path or a <c>file://</c> URL).</summary>
    public static bool IsRemote(string mirror) =>
        Uri.TryCreate(mirror, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>A mirror as fetching reads it: URLs as they are; folders (paths or <c>file://</c> URLs) made absolute
    /// against <paramref name="baseFolder"/> (default: the working directory).</summary>
    public static string ResolveMirror(string mirror, string? baseFolder = null) =>
        IsRemote(mirror) ? mirror
        : Uri.TryCreate(mirror, UriKind.Absolute, out var uri) && uri.IsFile ? uri.LocalPath
        : Path.GetFullPath(mirror, baseFolder ?? Environment.CurrentDirectory);

    /// <summary>Fetches into <paramref name="part"/>; true when it resumed bytes that were there before.</summary>
    Task<bool> FetchFromAsync(string mirror, string name, PinnedFile pin, string part, Progress progress, CancellationToken cancellation) =>
        IsRemote(mirror)
            ? FetchHttpAsync(new Uri(new Uri(mirror.EndsWith('/') ? mirror : mirror + "/"), name), pin, part, progress, cancellation)
            : CopyLocalAsync(Path.Combine(ResolveMirror(mirror), name), part, progress, cancellation);

    static async Task<bool> CopyLocalAsync(string source, string part, Progress progress, CancellationToken cancellation)
    {
        if (!File.Exists(source))
            throw new MirrorFailure(Directory.Exists(Path.GetDirectoryName(source)) ? "file not found" : "folder not found");
        await using (var input = File.OpenRead(source))
        await using (var output = new FileStream(part, FileMode.Create, FileAccess.Write))
            await input.CopyToAsync(output, cancellation);
        progress.Add(new FileInfo(part).Length);
        return false;
    }

    async Task<bool> FetchHttpAsync(Uri url, PinnedFile pin, string part, Progress progress, CancellationToken cancellation)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (have >= pin.Size)
        {
            File.Delete(part);
            have = 0;
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0)
            request.Headers.Range = new RangeHeaderValue(have, null);

        HttpResponseMessage response;
        using (var headers = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            headers.CancelAfter(options.ReadTimeout);
            try
            {
                response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headers.Token);
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.NameResolutionError)
            {
                throw new MirrorFailure($"host not found ({e.Message})");
            }
            catch (HttpRequestException e)
            {
                throw new TransientFailure($"connection failed ({e.Message})");
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                throw new TransientFailure($"no response within {options.ReadTimeout.TotalSeconds:0.#} s");
            }
        }

        using (response)
        {
            int code = (int)response.StatusCode;
            string status = $"HTTP {code} {response.ReasonPhrase}".TrimEnd();
            if (code == 416)
            {
                File.Delete(part); // the partial copy is not a prefix of what the server has
                throw new TransientFailure(status);
            }
            if (code is 408 or 429 || code >= 500)
                throw new TransientFailure(status);
            if (!response.IsSuccessStatusCode)
                throw new MirrorFailure(status);

            bool resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
            if (!resumed)
                have = 0; // no Range asked, or the server ignored it: start over
            await using var body = await response.Content.ReadAsStreamAsync(cancellation);
            await using var file = new FileStream(part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
            var buffer = new byte[1 << 16];
            while (true)
            {
                int read;
                using (var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
                {
                    stall.CancelAfter(options.ReadTimeout);
                    try
                    {
                        read = await body.ReadAsync(buffer, stall.Token);
                    }
                    catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                    {
                        throw new TransientFailure($"stalled: no data for {options.ReadTimeout.TotalSeconds:0.#} s after {have:N0} bytes");
                    }
                    catch (Exception e) when (e is IOException or HttpRequestException)
                    {
                        throw new TransientFailure($"connection dropped after {have:N0} bytes ({e.Message})");
                    }
                }
                if (read == 0)
                    break;
                await file.WriteAsync(buffer.AsMemory(0, read), cancellation);
                have += read;
                progress.Add(read);
            }
            return resumed;
        }
    }

    public void Dispose() => http.Dispose();

    /// <summary>This mirror cannot serve the file (404, 403, host unknown): try the next one.</summary>
    class MirrorFailure(string message) : Exception(message);

    /// <summary>Worth retrying on the same mirror (timeout, dropped connection, 5xx).</summary>
    sealed class TransientFailure(string message) : MirrorFailure(message);
}

public sealed class DownloadException(string message) : PipelineException(message);
