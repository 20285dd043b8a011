using System.Net;
using System.Text;
using Build.Host;
using Pipeline.Stages;

namespace Build.Reporting;

/// <summary>
/// <c>--serve</c>: the report's folder over HTTP on 127.0.0.1 only, plus <c>live.json</c> (what is training now, see
/// <see cref="ReportData.Live"/>), which the page polls when it is served. The page is written again when it is asked
/// for and the experiments changed, so a reload shows a run that finished. Runs until cancelled (Ctrl-C).
/// </summary>
public static class ReportServer
{
    public const string LiveFile = "live.json";

    public static async Task ServeAsync(string artifacts, string root, int port, Serilog.ILogger log, CancellationToken cancellation)
    {
        string folder = Path.Combine(artifacts, ReportPage.Folder);
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        try { listener.Start(); }
        catch (HttpListenerException e)
        {
            throw new UsageException($"--port={port}: cannot serve on 127.0.0.1:{port} ({e.Message}); is it in use? Give another with --port=N");
        }
        log.Information("report: serving http://127.0.0.1:{Port}/ (the page polls {Live} while a training runs); Ctrl-C stops", port, LiveFile);
        var written = Version(artifacts);
        while (!cancellation.IsCancellationRequested)
        {
            HttpListenerContext request;
            try { request = await listener.GetContextAsync().WaitAsync(cancellation); }
            catch (OperationCanceledException) { break; }
            try
            {
                string path = Uri.UnescapeDataString(request.Request.Url!.AbsolutePath).TrimStart('/');
                if (path == LiveFile)
                {
                    Send(request.Response, "application/json", Encoding.UTF8.GetBytes(ReportData.Live(artifacts).ToJsonString(CanonicalJson.Options)));
                    continue;
                }
                if (path is "" or ReportPage.FileName && Version(artifacts) is var now && now != written)
                {
                    ReportPage.Write(artifacts, root, log);
                    written = now;
                }
                string file = Path.GetFullPath(Path.Combine(folder, path.Length == 0 ? ReportPage.FileName : path));
                if (!file.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
                {
                    request.Response.StatusCode = 404;
                    Send(request.Response, "text/plain", Encoding.UTF8.GetBytes($"not found: /{path}\n"));
                    continue;
                }
                Send(request.Response, ContentType(file), await File.ReadAllBytesAsync(file, cancellation));
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                log.Warning("report: a request failed ({Message})", e.Message);
                request.Response.Abort();
            }
        }
        log.Information("report: stopped serving");
    }

    static void Send(HttpListenerResponse response, string type, byte[] body)
    {
        response.ContentType = type;
        response.Headers["Cache-Control"] = "no-store";
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
        response.Close();
    }

    static string ContentType(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".png" => "image/png",
        ".json" => "application/json",
        _ => "application/octet-stream",
    };

    /// <summary>The experiment log's state: its files' count and newest time; a change means the page is out of date.</summary>
    static (int, DateTime) Version(string artifacts)
    {
        var folder = new DirectoryInfo(PipelineHost.ExperimentsFolder(artifacts));
        if (!folder.Exists) return (0, default);
        var files = folder.GetFiles("*.json");
        return (files.Length, files.Length == 0 ? default : files.Max(f => f.LastWriteTimeUtc));
    }
}
