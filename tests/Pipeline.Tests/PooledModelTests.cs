using Pipeline.Stages;
using Pipeline.Training;
using Pipeline.Training.Models;

namespace Pipeline.Tests;

/// <summary>The catalog's model for larger images, and the memory check before training.</summary>
[Trait("Category", "Unit")]
public class PooledModelTests
{
    [Fact]
    public void The_pooled_models_parameter_count_does_not_grow_with_the_image()
    {
        using var small = ModelCatalog.Create("pooled", 10, [3, 32, 32]);
        using var large = ModelCatalog.Create("pooled", 10, [3, 224, 224]);
        using var strided = ModelCatalog.Create("strided", 10, [3, 224, 224]);
        long parameters = ModelCatalog.ParameterCount(small);
        Assert.Equal(parameters, ModelCatalog.ParameterCount(large));
        Assert.InRange(parameters, 100_000, 400_000);
        Assert.True(ModelCatalog.ParameterCount(strided) > 100 * parameters); // the dense layer of the MNIST-shaped models grows
        using var logits = large.call(TorchSharp.torch.zeros(2, 3, 224, 224));
        Assert.Equal([2L, 10], logits.shape);
    }

    [Fact]
    public void A_batch_that_cannot_fit_stops_before_training_naming_the_batch_size_to_use()
    {
        long need = MemoryEstimate.StepBytes("pooled", 10, [3, 224, 224], 512);
        Assert.True(need > 1L << 30, $"{need} bytes for 512 images of 3×224×224"); // activations dominate
        var error = Assert.Throws<StageException>(() => MemoryEstimate.Check("pooled", 10, [3, 224, 224], 512, "train.batch_size", available: need / 5));
        Assert.StartsWith("train.batch_size=512: one training step of 'pooled' on 3×224×224 examples needs about", error.Message);
        Assert.Contains("set train.batch_size to 64 or less", error.Message);
        Assert.Equal(need, MemoryEstimate.Check("pooled", 10, [3, 224, 224], 512, "train.batch_size", available: need));
    }
}
