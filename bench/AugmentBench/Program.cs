// The Augment stage's figures: images/s for the default (reference) pipeline producing the training arrays, the
// same with every image written as PNG, each operation alone, and a determinism check (1 thread vs 2, run vs run).
// Usage: dotnet run -c Release --project bench/AugmentBench -- <verify folder> <scratch folder>
using System.Diagnostics;
using System.Runtime.InteropServices;
using Pipeline.Acquisition;
using Pipeline.Augmentation;
using Pipeline.Imaging;
using Pipeline.Stages;
using Serilog.Core;

string verified = args.Length > 0 ? args[0] : "artifacts/verify", scratch = args.Length > 1 ? args[1] : "artifacts/.bench-augment";
var dataset = VerifiedDataset.Load(verified);
var train = dataset.LoadSplit(verified, "train");
var reference = new AugmentParameters(); // rotate p 0.9, ±25°
Console.WriteLine($"{Environment.ProcessorCount} cores; source: {train.Count:N0} training images; Augmentor 0.2.12 (reference rotate pipeline, writing PNG): 1,085–1,140 images/s");

Augmenter.Run(train, reference with { Samples = 5000 }); // JIT warm-up
Report("reference pipeline, arrays in memory", Best(3, () => Augmenter.Run(train, reference with { Samples = 55_000 }).Images.Count));
Report("reference pipeline, whole stage without PNG (arrays, manifest, preview written)",
    Best(3, () => Stage(reference with { Samples = 55_000 }).Images, Fresh));
Report("reference pipeline, whole stage with PNG files", Best(3, () => Stage(reference with { Samples = 20_000, Png = true }).Images, Fresh));
// The disk's bound at this moment: the same number of small files, already encoded, written by two threads.
var encoded = Enumerable.Range(0, 20_000).Select(i => Png.Encode(train.Image(i), train.Columns, train.Rows)).ToArray();
Report("  for comparison, writing 20,000 PNG files already encoded (no augmentation)", Best(3, () =>
{
    foreach (var name in dataset.Classes) Directory.CreateDirectory(Path.Combine(scratch, name));
    Parallel.For(0, encoded.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 },
        i => File.WriteAllBytes(Path.Combine(scratch, dataset.Classes[train.Labels[i]], $"{i:D5}.png"), encoded[i]));
    return encoded.Length;
}, Fresh));

Console.WriteLine("each operation alone (probability 1, defaults of README), arrays in memory:");
foreach (var operation in new AugmentOperation[]
{
    new Rotate { Probability = 1 }, new SkewTilt { Probability = 1, Magnitude = 0.3 }, new SkewCorner { Probability = 1, Magnitude = 0.3 },
    new Shear { Probability = 1 }, new RandomDistortion { Probability = 1 }, new GaussianDistortion { Probability = 1 },
    new Zoom { Probability = 1 }, new CropRandom { Probability = 1 }, new CropCentre { Probability = 1 },
    new RandomErasing { Probability = 1 }, new FlipRandom { Probability = 1 }, new RotateRandom90 { Probability = 1 },
    new RandomBrightness { Probability = 1 }, new RandomContrast { Probability = 1 }, new Invert { Probability = 1 },
})
{
    var parameters = new AugmentParameters { Samples = 55_000, Operations = [operation] };
    Augmenter.Run(train, parameters with { Samples = 2000 });
    Report($"  {operation.GetType().Name,-20}", Best(3, () => Augmenter.Run(train, parameters).Images.Count));
}

Console.WriteLine("determinism (SHA-256 of augmented-images.u8 + manifest):");
var everything = new AugmentParameters
{
    Samples = 20_000,
    Operations =
    [
        new Rotate { Probability = 0.9 }, new Skew { Probability = 0.3, Magnitude = 0.3 }, new Shear { Probability = 0.3 },
        new RandomDistortion { Probability = 0.5 }, new Zoom { Probability = 0.3 }, new CropRandom { Probability = 0.2 },
        new RandomErasing { Probability = 0.2 }, new RandomContrast { Probability = 0.5 },
    ],
};
foreach (var (name, parameters) in new[] { ("reference pipeline", reference with { Samples = 20_000 }), ("eight operations", everything) })
{
    string Hash(int threads)
    {
        var run = Augmenter.Run(train, parameters with { Threads = threads });
        return ContentHash.OfText(ContentHash.OfBytes(run.Images.Images) + string.Join('\n', run.Applied))[..16];
    }
    string one = Hash(1), two = Hash(2), again = Hash(2);
    Console.WriteLine($"  {name,-20} 1 thread {one}  2 threads {two}  2 threads again {again}  {(one == two && two == again ? "identical" : "DIFFERENT")}");
}
foreach (var folder in Directory.GetDirectories(Path.GetDirectoryName(Path.GetFullPath(scratch))!, Path.GetFileName(scratch) + "*"))
    Directory.Delete(folder, recursive: true);

// Earlier outputs are moved aside (a rename), not deleted: deleting thousands of files keeps the disk busy and would
// slow the next measurement down. They are deleted at the end. sync() writes back the last run's files first.
void Fresh()
{
    if (Directory.Exists(scratch)) Directory.Move(scratch, $"{scratch}.old-{Guid.NewGuid():N}");
    Directory.CreateDirectory(scratch);
    sync();
}

// The stage's work as a local run does it (one range): the samples, then dataset.json and the preview.
AugmentResult Stage(AugmentParameters parameters)
{
    var result = AugmentStage.RunRange(dataset, verified, parameters, new ItemRange(0, parameters.Samples), scratch, Logger.None);
    AugmentStage.Complete(dataset, verified, parameters, scratch);
    return result;
}

[DllImport("libc")]
static extern void sync();

// Best of n runs: images and seconds of the fastest (the machine is shared, so slower runs are noise).
static (int Images, double Seconds) Best(int runs, Func<int> run, Action? prepare = null)
{
    (int Images, double Seconds) best = (0, double.MaxValue);
    for (int i = 0; i < runs; i++)
    {
        prepare?.Invoke();
        var clock = Stopwatch.StartNew();
        int images = run();
        double seconds = clock.Elapsed.TotalSeconds;
        if (seconds < best.Seconds) best = (images, seconds);
    }
    return best;
}

static void Report(string what, (int Images, double Seconds) result) =>
    Console.WriteLine($"{what}: {result.Images:N0} images in {result.Seconds:0.000} s = {result.Images / result.Seconds:N0} images/s");
