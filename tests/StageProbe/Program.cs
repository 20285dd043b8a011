using Pipeline.Stages;

// Usage: StageProbe <artifacts> <files> <milliseconds per file>
// Runs the "probe" stage, which writes <files> files slowly, printing "writing N" before each one.
var store = new ArtifactStore(args[0]);
int files = int.Parse(args[1]), delay = int.Parse(args[2]);
await store.RunAsync(ProbeStage.Definition(files), async (workspace, cancellation) =>
{
    for (int i = 0; i < files; i++)
    {
        Console.WriteLine($"writing {i}");
        await File.WriteAllTextAsync(workspace.PathOf($"part-{i:D3}.txt"), ProbeStage.Content(i), cancellation);
        await Task.Delay(delay, cancellation);
    }
});
Console.WriteLine("done");

public static class ProbeStage
{
    public static StageDefinition Definition(int files) => new("probe", new { files });

    public static string Content(int index) => $"part {index}\n";
}
