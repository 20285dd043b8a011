using Build.Host;
using Pipeline.Acquisition;
using Pipeline.Imaging;

namespace Build.Tasks;

[TaskName("Show")]
[TaskDescription("Print one image as text art with its label and one-hot vector (--split, --index).")]
[IsDependentOn(typeof(VerifyTask))]
public sealed class ShowTask : AsyncFrostingTask<PipelineContext>
{
    public override Task RunAsync(PipelineContext context)
    {
        var (dataset, verified) = VerifyStage.Load(context.Stages);
        using var split = dataset.LoadSplit(verified, context.Settings.Split);
        int index = context.Settings.Index;
        if (index >= split.Count)
            throw new UsageException($"--index={index}: split '{split.Name}' has {split.Count:N0} images (0–{split.Count - 1:N0})");
        int label = split.Labels[index];
        Console.WriteLine($"\n{split.Name}[{index}]  label {dataset.Classes[label]}  one-hot [{Exporter.OneHot(label, dataset.Classes.Count).Replace(' ', ',')}]\n");
        if (split.Channels == 3)
            Console.WriteLine("(a colour image, shown by its luminance)\n");
        Console.Write(TextArt.Render(split.Image(index), split.Columns, split.Rows, split.Channels));
        return Task.CompletedTask;
    }
}
