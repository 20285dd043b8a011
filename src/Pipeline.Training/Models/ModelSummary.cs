using System.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pipeline.Training.Models;

public sealed record LayerSummary(string Name, string Type, long[] OutputShape, long Parameters);

/// <summary>A Keras-style summary: each layer, its output shape (batch dimension as None) and parameter count.</summary>
public sealed record ModelSummary(string Model, long[] InputShape, IReadOnlyList<LayerSummary> Layers)
{
    public long TotalParameters => Layers.Sum(l => l.Parameters);

    /// <summary>Runs one dummy image through the layers in order to learn each output shape.</summary>
    public static ModelSummary Describe(string model, Sequential network, long[] inputShape)
    {
        var layers = new List<LayerSummary>();
        bool training = network.training;
        network.eval();
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var x = zeros([1, .. inputShape]);
            foreach (var (name, module) in network.named_children())
            {
                x = ((Module<Tensor, Tensor>)module).call(x);
                layers.Add(new LayerSummary(name, module.GetType().Name, x.shape[1..], ModelCatalog.ParameterCount(module)));
            }
        }
        network.train(training);
        return new ModelSummary(model, inputShape, layers);
    }

    public string ToTable()
    {
        const int nameWidth = 28, shapeWidth = 24;
        var text = new StringBuilder();
        string rule = new('─', nameWidth + shapeWidth + 14);
        text.AppendLine($"Model: \"{Model}\"").AppendLine(rule);
        text.AppendLine($"{"Layer (type)",-nameWidth}{"Output Shape",-shapeWidth}{"Param #",14}").AppendLine(rule);
        foreach (var layer in Layers)
            text.AppendLine($"{$"{layer.Name} ({layer.Type})",-nameWidth}{Shape(layer.OutputShape),-shapeWidth}{layer.Parameters,14:N0}");
        text.AppendLine(rule).AppendLine($"Total params: {TotalParameters:N0}");
        return text.ToString();
    }

    static string Shape(long[] shape) => $"(None, {string.Join(", ", shape)})";
}
