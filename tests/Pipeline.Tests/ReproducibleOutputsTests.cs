using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Pipeline.Stages;

namespace Pipeline.Tests;

/// <summary>
/// Outputs hold results, never durations: the whole pipeline run twice in two folders, and once killed during Train's
/// second epoch then run again, leaves the same bytes in every output file of every stage, <c>evaluate/report.md</c>
/// included. Otherwise two runs that compute the same model never share a cache entry and never compare equal.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ReproducibleOutputsTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    string[] Arguments(string artifacts) =>
    [
        $"--artifacts={artifacts}", $"--mirror={temp["mirror"]}", $"--mirror={TestHost.ModelsMirror}",
        $"--set=download.dataset={temp["tiny-mnist.json"]}", "--set=verify.validation=1000", "--set=augment.samples=200",
        "--set=train.epochs=2", "--set=transfer.epochs=2", "--set=featurize.input_size=32",
    ];

    [Fact]
    public async Task Two_clean_runs_and_a_run_killed_in_Train_then_resumed_leave_identical_outputs_in_every_stage()
    {
        TinyMnist.Write(temp["mirror"], temp["tiny-mnist.json"], train: 6000, test: 500);
        foreach (var run in new[] { "first", "second" })
        {
            var result = await HostTests.Host(Arguments(temp[run]));
            Assert.True(result.ExitCode == 0, $"{run} run failed:\n{result.Output}\n{result.Error}");
        }

        // Killed once the epoch-1 checkpoint is committed (its unit folder renamed into place): during the second epoch.
        string killed = temp["killed"];
        using (var process = Process.Start(HostTests.HostStart(Arguments(killed)))!)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            string unit = Training.CheckpointedTraining.UnitFolder(1);
            while (!process.HasExited && !(Directory.Exists(killed)
                && Directory.EnumerateDirectories(killed, unit, SearchOption.AllDirectories).Any(d => !d.StartsWith(ArtifactStore.CacheFolder(killed)))))
                await Task.Delay(20);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode != 0, $"the run ended before it could be killed in Train:\n{await output}");
        }
        var resumed = await HostTests.Host(Arguments(killed));
        Assert.True(resumed.ExitCode == 0, resumed.Output + resumed.Error);
        Assert.Contains("resuming from the epoch-1 checkpoint", resumed.Output);

        var stages = Directory.GetDirectories(temp["first"]).Where(d => File.Exists(Path.Combine(d, StageRecord.FileName))).Select(Path.GetFileName).Order().ToList();
        Assert.Contains("evaluate", stages);
        Assert.Contains("transfer", stages);
        foreach (var other in new[] { "second", "killed" })
            foreach (var stage in stages)
            {
                var expected = HostTests.Outputs(Path.Combine(temp["first"], stage!));
                var actual = HostTests.Outputs(Path.Combine(temp[other], stage!));
                var differ = expected.Keys.Union(actual.Keys).Where(f => expected.GetValueOrDefault(f) != actual.GetValueOrDefault(f)).Order().ToList();
                Assert.True(differ.Count == 0, $"{other} run, {stage}: {string.Join(", ", differ)} differ from the first run's");
            }
        string report = File.ReadAllText(Path.Combine(temp["first"], "evaluate", "report.md"));
        Assert.DoesNotContain(" s |", report); // no durations
    }
}

/// <summary>The first images of the MNIST mirror as a small IDX dataset: its definition and its mirror folder.</summary>
static class TinyMnist
{
    public static void Write(string mirror, string definition, int train, int test)
    {
        Directory.CreateDirectory(mirror);
        var files = new JsonObject();
        void Write(string name, byte[] raw)
        {
            byte[] gz = GzipFile.Compress(raw);
            File.WriteAllBytes(Path.Combine(mirror, name), gz);
            files[name] = new JsonObject { ["size"] = gz.Length, ["sha256"] = ContentHash.OfBytes(gz) };
        }
        foreach (var (prefix, count) in new[] { ("train", train), ("t10k", test) })
        {
            byte[] images = GzipFile.Decompress(File.ReadAllBytes(TestHost.Required(Path.Combine(TestHost.MnistMirror, $"{prefix}-images-idx3-ubyte.gz"))));
            byte[] labels = GzipFile.Decompress(File.ReadAllBytes(TestHost.Required(Path.Combine(TestHost.MnistMirror, $"{prefix}-labels-idx1-ubyte.gz"))));
            images = images[..(16 + count * 28 * 28)];
            labels = labels[..(8 + count)];
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), count);
            BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), count);
            Write($"{prefix}-images-idx3-ubyte.gz", images);
            Write($"{prefix}-labels-idx1-ubyte.gz", labels);
        }
        File.WriteAllText(definition, new JsonObject
        {
            ["name"] = "tiny-mnist",
            ["title"] = "the first images of MNIST",
            ["mirrors"] = new JsonArray(),
            ["classes"] = new JsonArray([.. Enumerable.Range(0, 10).Select(i => (JsonNode)i.ToString())]),
            ["splits"] = new JsonObject
            {
                ["train"] = new JsonObject { ["images"] = "train-images-idx3-ubyte.gz", ["labels"] = "train-labels-idx1-ubyte.gz" },
                ["test"] = new JsonObject { ["images"] = "t10k-images-idx3-ubyte.gz", ["labels"] = "t10k-labels-idx1-ubyte.gz" },
            },
            ["files"] = files,
        }.ToJsonString());
    }
}
