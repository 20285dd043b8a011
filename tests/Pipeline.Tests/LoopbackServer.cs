using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.Tests;

/// <summary>What the loopback server does with one request.</summary>
abstract record Reply
{
    /// <summary>A status with no body (403, 404, 500 …).</summary>
    public sealed record Status(int Code, string Reason) : Reply;

    /// <summary>
    /// The body (honouring a Range request with 206). <paramref name="CutAfter"/>: send only that many bytes of this
    /// response, then drop the connection. <paramref name="StallAfter"/>: send that many, then go silent.
    /// </summary>
    public sealed record Body(byte[] Content, long? CutAfter = null, long? StallAfter = null, bool HonourRange = true) : Reply;
}

/// <summary>An HTTP/1.1 server on 127.0.0.1 and a random port, with faults chosen per request by the test.</summary>
sealed class LoopbackServer : IAsyncDisposable
{
    public sealed record Request(string Path, long? RangeStart)
    {
        public string Method { get; init; } = "GET";
        /// <summary>The header lines as sent ("Name: value").</summary>
        public IReadOnlyList<string> Headers { get; init; } = [];
    }

    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stop = new();
    readonly Func<Request, Reply> handle;
    readonly Task loop;

    public List<Request> Requests { get; } = [];

    public LoopbackServer(Func<Request, Reply> handle)
    {
        this.handle = handle;
        listener.Start();
        loop = AcceptLoop();
    }

    public string Url(string folder = "") => $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/{folder}";

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var header = new StringBuilder();
            var buffer = new byte[1];
            while (!header.ToString().EndsWith("\r\n\r\n") && await stream.ReadAsync(buffer, stop.Token) == 1)
                header.Append((char)buffer[0]);
            var lines = header.ToString().Split("\r\n");
            string path = lines[0].Split(' ')[1];
            long? range = lines.Where(l => l.StartsWith("Range: bytes=", StringComparison.OrdinalIgnoreCase))
                .Select(l => (long?)long.Parse(l["Range: bytes=".Length..].TrimEnd('-'))).FirstOrDefault();
            var request = new Request(path, range) { Method = lines[0].Split(' ')[0], Headers = lines[1..].Where(l => l.Length > 0).ToList() };
            lock (Requests) Requests.Add(request);

            switch (handle(request))
            {
                case Reply.Status status:
                    await Write(stream, $"HTTP/1.1 {status.Code} {status.Reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    break;
                case Reply.Body body:
                    long from = body.HonourRange && range is { } start ? start : 0;
                    var content = body.Content.AsMemory((int)from);
                    string head = from > 0
                        ? $"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{body.Content.Length - 1}/{body.Content.Length}\r\n"
                        : "HTTP/1.1 200 OK\r\n";
                    await Write(stream, head + $"Content-Length: {content.Length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
                    long send = Math.Min(content.Length, body.CutAfter ?? body.StallAfter ?? content.Length);
                    await stream.WriteAsync(content[..(int)send], stop.Token);
                    await stream.FlushAsync(stop.Token);
                    if (body.StallAfter is not null)
                        await Task.Delay(Timeout.Infinite, stop.Token);
                    if (body.CutAfter is not null)
                        client.Client.LingerState = new LingerOption(true, 0); // reset, not a clean close
                    break;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException) { }
    }

    Task Write(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), stop.Token).AsTask();

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        listener.Stop();
        await loop;
    }
}
