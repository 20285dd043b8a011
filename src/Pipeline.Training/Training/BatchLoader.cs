using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pipeline.Training;

/// <summary>
/// Batches of an <see cref="ExampleSource"/> in a given order (a seeded permutation, or index order), gathered into
/// two reused tensors: a worker thread fills the next batch while the caller uses the current one. Memory is two
/// batches whatever the dataset's size. <see cref="Waited"/> is how long the caller waited for data.
/// </summary>
public sealed class BatchLoader : IDisposable
{
    /// <summary>One batch: the first <see cref="Count"/> rows of the slot's tensors are valid until the next batch is taken.</summary>
    public readonly record struct Batch(Tensor Slot, Tensor SlotLabels, int Count, long Start)
    {
        /// <summary>The batch's examples (a view: dispose it, e.g. in a dispose scope).</summary>
        public Tensor Inputs() => Slot.narrow(0, 0, Count);
        public Tensor Labels() => SlotLabels.narrow(0, 0, Count);
    }

    const int Slots = 2;
    readonly ExampleSource source;
    readonly long[]? order;
    readonly int batchSize;
    readonly (Tensor Inputs, Tensor Labels)[] slots;
    readonly BlockingCollection<int> free = new(), ready = new();
    readonly CancellationTokenSource stop = new();
    readonly Task worker;
    ExceptionDispatchInfo? failure;
    readonly Stopwatch waiting = new();

    /// <param name="order">the example indices in the order to read them (null: 0, 1, 2, ...)</param>
    public BatchLoader(ExampleSource source, int batchSize, long[]? order = null)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "a batch holds at least one example");
        (this.source, this.batchSize, this.order) = (source, batchSize, order);
        int rows = (int)Math.Min(batchSize, Math.Max(source.Count, 1));
        slots = new (Tensor, Tensor)[Slots];
        for (int s = 0; s < Slots; s++)
        {
            slots[s] = (empty([rows, .. source.ExampleShape], ScalarType.Float32).DetachFromDisposeScope(),
                empty([rows], ScalarType.Int64).DetachFromDisposeScope());
            free.Add(s);
        }
        worker = Task.Factory.StartNew(Produce, TaskCreationOptions.LongRunning);
    }

    public int Batches => (Count + batchSize - 1) / batchSize;
    int Count => order?.Length ?? source.Count;
    public TimeSpan Waited => waiting.Elapsed;

    void Produce()
    {
        try
        {
            var indices = new long[batchSize];
            for (int b = 0; b < Batches; b++)
            {
                int s = free.Take(stop.Token);
                long start = (long)b * batchSize;
                int count = (int)Math.Min(batchSize, Count - start);
                for (int k = 0; k < count; k++) indices[k] = order is null ? start + k : order[start + k];
                var (inputs, labels) = slots[s];
                source.Gather(indices.AsSpan(0, count), MemoryMarshal.Cast<byte, float>(inputs.bytes)[..checked((int)(count * source.ExampleLength))]);
                var labelRows = MemoryMarshal.Cast<byte, long>(labels.bytes);
                for (int k = 0; k < count; k++) labelRows[k] = source.Label(indices[k]);
                ready.Add(s);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
            ready.Add(-1);
        }
    }

    /// <summary>Every batch once, in order. Each batch's slot is handed back to the worker when the next one is asked for.</summary>
    public IEnumerable<Batch> Read()
    {
        for (int b = 0; b < Batches; b++)
        {
            waiting.Start();
            int s = ready.Take();
            waiting.Stop();
            if (s < 0) failure!.Throw();
            long start = (long)b * batchSize;
            yield return new Batch(slots[s].Inputs, slots[s].Labels, (int)Math.Min(batchSize, Count - start), start);
            free.Add(s);
        }
    }

    public void Dispose()
    {
        stop.Cancel();
        try { worker.Wait(); } catch (AggregateException) { }
        foreach (var (inputs, labels) in slots)
        {
            inputs.Dispose();
            labels.Dispose();
        }
        stop.Dispose();
        free.Dispose();
        ready.Dispose();
    }
}
