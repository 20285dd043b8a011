using System.Text.Json;
using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Stages;

namespace Build.Tasks;

[TaskName("Verify")]
[TaskDescription("Check checksums and IDX structure; write train/validation/test arrays and the image inventory.")]
[IsDependentOn(typeof(DownloadTask))]
public sealed class VerifyTask : StageTask
{
    public override StageDefinition Define(PipelineContext context) =>
        new(StageName, 1, context.Parameters.Verify, new UpstreamInput("download"));

    protected override Task ProduceAsync(PipelineContext context, StageWorkspace workspace)
    {
        string downloads = context.Store.StageDirectory("download");
        var dataset = JsonSerializer.Deserialize<DatasetDefinition>(File.ReadAllText(Path.Combine(downloads, DatasetDefinition.FileName)), CanonicalJson.Options)!;
        var inventory = DatasetVerifier.Verify(dataset, downloads, context.Parameters.Verify.Validation, workspace.Directory);
        context.Logger.Information("{Inventory:l}", inventory.ToTable());
        foreach (var (split, count) in inventory.Counts)
            workspace.Metrics[split] = count;
        return Task.CompletedTask;
    }
}
