using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// Verify: checksums and IDX structure, or a folder's images decoded and fitted, then the train/validation/test arrays
/// every later stage reads.
/// </summary>
public sealed class VerifyStage : Stage<VerifyStage>
{
    public override string Name => "verify";
    public override string Description => "Check checksums and IDX structure (or decode a folder's images); write train/validation/test arrays, the image inventory and the training images' framing.";
    public override IReadOnlyList<Stage> Upstream => [DownloadStage.Instance];
    public override IReadOnlyList<string> Shapes => ["verify.validation", "verify.skip_unreadable", "verify.max_image_pixels"];
    public override Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var definition = DownloadStage.Recorded(context);
        string downloads = context.OutputOf(DownloadStage.Instance);
        var parameters = context.Section<VerifyParameters>();
        var inventory = definition.IsFolder
            ? FolderVerifier.Verify(definition, FolderListing.Read(downloads)!, downloads, parameters.SkipUnreadable, parameters.MaxImagePixels, workspace.Directory,
                context.Log, context.Cancellation)
            : DatasetVerifier.Verify(definition, downloads, parameters.Validation, workspace.Directory);
        context.Log.Information("{Inventory:l}", inventory.ToTable());
        // How a training image is framed, for Predict to bring other images to it (docs/predict.md).
        var verified = VerifiedDataset.Load(workspace.Directory);
        var framing = Imaging.FramingStatistics.Learn(verified.LoadSplit(workspace.Directory, "train"));
        framing.Save(workspace.Directory);
        context.Log.Information("framing of the training images: {Polarity}, object's longer side {Side} px, centre of mass at row {Row}, column {Column}",
            framing.Polarity, framing.LongSide.Median, framing.CentreRow.Median, framing.CentreColumn.Median);
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
