using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>Verify: checksums and IDX structure, then the train/validation/test arrays every later stage reads.</summary>
public sealed class VerifyStage : Stage<VerifyStage>
{
    public override string Name => "verify";
    public override string Description => "Check checksums and IDX structure; write train/validation/test arrays and the image inventory.";
    public override IReadOnlyList<Stage> Upstream => [DownloadStage.Instance];
    public override IReadOnlyList<string> Shapes => ["verify.validation"];
    public override IReadOnlyList<string> Code =>
        ["src/Pipeline/Acquisition/DatasetVerifier.cs", "src/Pipeline/Acquisition/Idx.cs", "src/Pipeline/Acquisition/VerifiedDataset.cs",
         "src/Pipeline/Acquisition/VerifyStage.cs", "src/Pipeline/Acquisition/DatasetDefinition.cs", "src/Pipeline/Acquisition/PinnedFile.cs"];

    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var inventory = DatasetVerifier.Verify(DownloadStage.Recorded(context), context.OutputOf(DownloadStage.Instance),
            context.Section<VerifyParameters>().Validation, workspace.Directory);
        context.Log.Information("{Inventory:l}", inventory.ToTable());
        foreach (var (split, count) in inventory.Counts)
            workspace.Metrics[split] = count;
        return Task.CompletedTask;
    }

    /// <summary>The verified dataset and the folder its arrays are in.</summary>
    public static (VerifiedDataset Dataset, string Folder) Load(StageContext context)
    {
        string folder = context.OutputOf(Instance);
        return (VerifiedDataset.Load(folder), folder);
    }
}
