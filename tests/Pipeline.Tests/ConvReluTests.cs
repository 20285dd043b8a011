using Pipeline.Training.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace Pipeline.Tests;

/// <summary>The reference model's fused first layer computes what libtorch's convolution and ReLU compute.</summary>
[Collection(TorchCollection.Name)]
[Trait("Category", "Unit")]
public class ConvReluTests
{
    /// <summary>Output and the three gradients of relu(conv2d(x, w, b)) against an upstream gradient.</summary>
    static (float[] Y, float[] Gx, float[] Gw, float[] Gb) Run(Func<Tensor, Tensor, Tensor, Tensor> layer, Tensor x0, Tensor w0, Tensor b0, Tensor upstream)
    {
        using var scope = NewDisposeScope();
        var x = x0.clone().requires_grad_(true);
        var w = w0.clone().requires_grad_(true);
        var b = b0.clone().requires_grad_(true);
        var y = layer(x, w, b);
        y.backward([upstream]);
        return (y.data<float>().ToArray(), x.grad!.data<float>().ToArray(), w.grad!.data<float>().ToArray(), b.grad!.data<float>().ToArray());
    }

    static void Close(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = expected.Max(MathF.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-4f * scale, $"{what}[{i}]: {actual[i]}, libtorch {expected[i]}");
    }

    [Theory]
    [InlineData(5, 1, 28, 28, 32)] // MNIST: rows of 26, the last vector overlapping the one before
    [InlineData(3, 3, 12, 19, 8)]  // colour, rows of 17
    [InlineData(2, 2, 10, 10, 4)]  // rows of exactly one vector
    public void Forward_and_gradients_match_libtorchs_convolution_and_relu(int n, int channels, int height, int width, int filters)
    {
        random.manual_seed(7);
        using var x = randn(n, channels, height, width);
        using var w = randn(filters, channels, 3, 3) * 0.3;
        using var b = randn(filters) * 0.1;
        using var upstream = randn(n, filters, height - 2, width - 2);
        Assert.True(ConvRelu.Handles(x, w));
        var expected = Run((xi, wi, bi) => relu(conv2d(xi, wi, bi)), x, w, b, upstream);
        var fused = Run(ConvRelu.Apply, x, w, b, upstream);
        Close(expected.Y, fused.Y, "output");
        Close(expected.Gx, fused.Gx, "input gradient");
        Close(expected.Gw, fused.Gw, "weight gradient");
        Close(expected.Gb, fused.Gb, "bias gradient");
        Assert.Contains(fused.Y, v => v == 0f); // the ReLU cut something
    }

    [Fact]
    public void The_same_inputs_give_the_same_bits()
    {
        random.manual_seed(3);
        using var x = rand(64, 1, 28, 28);
        using var w = randn(32, 1, 3, 3);
        using var b = randn(32);
        using var upstream = randn(64, 32, 26, 26);
        var first = Run(ConvRelu.Apply, x, w, b, upstream);
        var second = Run(ConvRelu.Apply, x, w, b, upstream);
        Assert.Equal(first.Y, second.Y);
        Assert.Equal(first.Gw, second.Gw);
        Assert.Equal(first.Gb, second.Gb);
    }

    [Fact]
    public void The_layer_keeps_conv2ds_parameter_names_and_initial_weights()
    {
        random.manual_seed(11);
        using var conv = nn.Conv2d(1, 32, 3);
        random.manual_seed(11);
        using var fused = new Conv2dRelu(1, 32);
        Assert.Equal(["weight", "bias"], fused.named_parameters().Select(p => p.name));
        Assert.Equal(conv.weight!.data<float>().ToArray(), fused.weight.data<float>().ToArray());
        Assert.Equal(conv.bias!.data<float>().ToArray(), fused.bias.data<float>().ToArray());
        // Rows narrower than a vector go through libtorch's operations: the same values either way.
        using var narrow = rand(2, 1, 6, 6);
        using var y = fused.call(narrow);
        using var expected = relu(conv2d(narrow, fused.weight, fused.bias));
        Assert.Equal(expected.data<float>().ToArray(), y.data<float>().ToArray());
    }
}
