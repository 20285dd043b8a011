using System.Diagnostics;
using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Evaluation;
using Pipeline.Stages;
using Pipeline.Training;

namespace Pipeline.Tests;

/// <summary>Code dependencies derived from the compiled code (tools/CodeDeps): what a real build derives, and what the host says.</summary>
[Trait("Category", "Integration")]
public sealed class CodeDependencyTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task A_changed_hash_of_Trainer_cs_makes_the_dry_run_name_Evaluate_and_that_file()
    {
        string[] sets = ["transfer.enabled=false"];
        var store = new ArtifactStore(temp["artifacts"]);
        var context = TestStages.Context(store, TestStages.Parameters(sets));
        // Records as complete runs leave them (one placeholder output each): the dry run compares fingerprints only.
        foreach (var stage in new Stage[] { DownloadStage.Instance, VerifyStage.Instance, AugmentStage.Instance, TrainStage.Instance, EvaluateStage.Instance })
            await store.RunAsync(stage.Define(context), (w, _) => File.WriteAllTextAsync(w.PathOf("placeholder.txt"), stage.Name));

        const string trainer = "src/Pipeline.Training/Training/Trainer.cs";
        foreach (var stage in new[] { "train", "evaluate" })
        {
            string path = Path.Combine(store.StageDirectory(stage), StageRecord.FileName);
            var record = JsonNode.Parse(File.ReadAllText(path))!;
            Assert.NotNull(record["code"]![trainer]);
            record["code"]![trainer] = new string('0', 64); // as if Trainer.cs (Predictor.Logits) was edited after these runs
            File.WriteAllText(path, record.ToJsonString());
        }

        var dry = await HostTests.Host([$"--artifacts={store.Root}", "--target=Evaluate", "--dryrun", .. sets.Select(s => $"--set={s}")]);
        Assert.Equal(0, dry.ExitCode);
        Assert.Contains("up to date", dry.Row("Verify"));
        Assert.EndsWith($"code changed: {trainer}", dry.Row("Train"));
        Assert.Contains("would run", dry.Row("Evaluate"));
        // Its own change is named even though Train reruns first.
        Assert.EndsWith($"code changed: {trainer}; upstream train would run first", dry.Row("Evaluate"));
    }

    /// <summary>A copy of the library with a new helper class that AugmentStage calls, built for real: no list is edited.</summary>
    [Fact]
    public async Task A_new_helper_called_from_AugmentStage_is_in_its_code_after_a_build()
    {
        string copy = temp["repository"];
        foreach (var file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json" })
            CopyTree(file, copy);
        CopyTree("src/Pipeline", copy);
        CopyTree("tools/CodeDeps", copy);
        const string helper = "src/Pipeline/Augmentation/SampleCount.cs";
        File.WriteAllText(Path.Combine(copy, helper),
            "namespace Pipeline.Augmentation;\n\nstatic class SampleCount\n{\n    public static int Of(int samples) => samples;\n}\n");
        string stage = Path.Combine(copy, "src/Pipeline/Augmentation/AugmentStage.cs");
        const string declaration = "public sealed class AugmentStage : ShardableStage<AugmentStage>\n{\n";
        string text = File.ReadAllText(stage);
        Assert.Contains(declaration, text);
        File.WriteAllText(stage, text.Replace(declaration, declaration + "    static int Counted(int samples) => SampleCount.Of(samples);\n\n"));

        var build = new ProcessStartInfo("dotnet", ["build", Path.Combine(copy, "src/Pipeline/Pipeline.csproj"), "-c", "Release", "--nologo", "-v", "q"])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var process = Process.Start(build)!)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            string error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, await output + error);
        }

        var sets = Sets(Directory.EnumerateFiles(Path.Combine(copy, "src/Pipeline/bin"), "Pipeline.stage-code.txt", SearchOption.AllDirectories).Single());
        Assert.Contains(helper, sets["Pipeline.Augmentation.AugmentStage"]);
        Assert.Equal(["Pipeline.Augmentation.AugmentStage"], sets.Where(s => s.Value.Contains(helper)).Select(s => s.Key));
    }

    static void CopyTree(string relative, string to)
    {
        string from = Path.Combine(TestHost.Root, relative);
        if (File.Exists(from))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(from, Path.Combine(to, relative));
            return;
        }
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string inner = Path.GetRelativePath(TestHost.Root, file);
            if (inner.Split('/').Any(part => part is "bin" or "obj")) continue;
            CopyTree(inner, to);
        }
    }

    /// <summary>A stage-code file: stage type → its files.</summary>
    static Dictionary<string, List<string>> Sets(string path)
    {
        var sets = new Dictionary<string, List<string>>();
        List<string>? current = null;
        foreach (var line in File.ReadLines(path).Where(l => !l.StartsWith('#') && !l.StartsWith("assembly ")))
            if (line.StartsWith("stage ")) sets[line[6..]] = current = [];
            else current!.Add(line);
        return sets;
    }
}
