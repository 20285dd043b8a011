using Pipeline.Stages;
using Pipeline.Training.Models;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// What one training step needs in memory, estimated before training starts: every layer's output for the batch
/// (kept for the backward pass) and its gradient, the weights with their gradients and Adam's two moments, and the
/// loader's two batches. A batch that cannot fit stops the run with a message naming the batch size to use.
/// </summary>
public static class MemoryEstimate
{
    /// <summary>Bytes a step of <paramref name="batchSize"/> examples needs (model <paramref name="model"/>, examples of <paramref name="inputShape"/>).</summary>
    public static long StepBytes(string model, int classes, long[] inputShape, int batchSize)
    {
        using var scope = NewDisposeScope();
        using var network = ModelCatalog.Create(model, classes, inputShape);
        network.eval();
        using var _ = no_grad();
        long activations = 0, parameters = ModelCatalog.ParameterCount(network);
        var x = zeros([1, .. inputShape]);
        foreach (var layer in network.children())
        {
            x = ((nn.Module<Tensor, Tensor>)layer).call(x);
            activations += x.numel();
        }
        long example = inputShape.Aggregate(1L, (a, b) => a * b);
        // float32: outputs and their gradients per example; weights, gradients, two Adam moments; two loader batches plus the batch in use.
        return sizeof(float) * (2 * activations * batchSize + 4 * parameters + 3 * example * batchSize);
    }

    /// <summary>The memory this process may still use: MemAvailable, lowered by a cgroup limit if one is set; null when unknown.</summary>
    public static long? AvailableBytes()
    {
        long? available = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    available = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
            if (File.Exists("/sys/fs/cgroup/memory.max") && File.ReadAllText("/sys/fs/cgroup/memory.max").Trim() is var max && max != "max"
                && File.Exists("/sys/fs/cgroup/memory.current"))
            {
                long left = long.Parse(max) - long.Parse(File.ReadAllText("/sys/fs/cgroup/memory.current").Trim());
                available = available is null ? left : Math.Min(available.Value, left);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return available;
    }

    /// <summary>Stops before training when a batch cannot fit in <paramref name="available"/> bytes (default: what the machine has left).</summary>
    /// <param name="key">the parameter that sets the batch size, e.g. <c>train.batch_size</c></param>
    public static long Check(string model, int classes, long[] inputShape, int batchSize, string key, long? available = null)
    {
        long need = StepBytes(model, classes, inputShape, batchSize);
        available ??= AvailableBytes();
        if (available is { } limit && need > limit)
        {
            int fits = batchSize;
            while (fits > 1 && StepBytes(model, classes, inputShape, fits) > limit) fits /= 2;
            string advice = StepBytes(model, classes, inputShape, fits) <= limit
                ? $"set {key} to {fits} or less"
                : $"even {key}=1 does not fit: lower the dataset's image_size or choose a smaller model";
            throw new StageException($"{key}={batchSize}: one training step of '{model}' on {string.Join("×", inputShape)} examples needs about "
                + $"{need / 1048576.0:N0} MB, but only {limit / 1048576.0:N0} MB are available: {advice}");
        }
        return need;
    }
}
