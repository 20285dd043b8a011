using Pipeline.Runtime;
using Pipeline.Training;
using static TorchSharp.torch;

namespace Pipeline.Tests;

[Collection(TorchCollection.Name)]
[Trait("Category", "Unit")]
public class TorchTests
{
    [Fact]
    public void Libtorch_loads_and_computes()
    {
        // Without the GLIBCXX weak-version edit of libLibTorchSharp.so this throws TypeInitializationException on Debian 12.
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        using var product = a.matmul(a);
        Assert.Equal([7f, 10f, 15f, 22f], product.data<float>().ToArray());
    }

    [Fact]
    public void A_few_gradient_steps_reduce_a_loss()
    {
        random.manual_seed(1); // the test host applied the malloc tuning at start
        using var w = zeros(3, requires_grad: true);
        using var x = randn(64, 3);
        using var y = x.matmul(tensor(new float[] { 1, -2, 3 }));
        float first = 0, last = 0;
        for (int step = 0; step < 50; step++)
        {
            using var scope = NewDisposeScope();
            var loss = (x.matmul(w) - y).pow(2).mean();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
            loss.backward();
            using (no_grad()) { w.sub_(w.grad! * 0.1f); w.grad!.zero_(); }
        }
        Assert.True(last < first / 10, $"loss {first} → {last}");
        Assert.Equal("2.10.0", TorchRuntime.Versions["libtorch"]);
    }

    [Fact]
    public void The_malloc_tuning_is_in_effect_on_glibcs_heap()
    {
        Assert.Equal("glibc", MallocTuning.Allocator); // the test host is not started through build.sh
        Assert.True(MallocTuning.Apply());
    }
}
