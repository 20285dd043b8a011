using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pipeline.Training.Models;

/// <summary>
/// The networks a run can choose by name, all returning one logit per class: CNNs for images (<c>train.model</c>,
/// input <c>channels×rows×columns</c>, the layers sized from it) and classifier heads for feature vectors
/// (<c>transfer.head</c>, input <c>dim</c>).
/// </summary>
public static class ModelCatalog
{
    public static readonly IReadOnlyDictionary<string, string> ImageModels = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["reference"] = "the reference's Keras model: Conv2D(32, 3×3, ReLU) → Flatten → Dense(128, ReLU) → Dense(classes)",
        ["compact"] = "three 3×3 conv layers (32, 64, 64 filters, batch-norm, ReLU; 2×2 max-pool after the first two) → dropout → Dense(classes)",
        ["pooled"] = "for larger images (folder datasets above 64 px): five 3×3 conv layers (32 stride 2, 32, 64 stride 2, 128 stride 2, 128 stride 2; batch-norm, ReLU) → global average pooling → Dense(classes); its parameter count does not grow with the image",
        ["strided"] = "conv layers 5×5 stride 2 (32 filters), 3×3 (48), 3×3 stride 2 (128), each with batch-norm and ReLU → Dense(128, ReLU) → dropout → Dense(classes)",
    };

    public static readonly IReadOnlyDictionary<string, string> Heads = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["logistic"] = "logistic regression on the features: Dense(classes)",
        ["mlp"] = "a small MLP on the features: Dense(256, ReLU) → dropout → Dense(classes)",
    };

    public static string Describe(string name) => ImageModels.TryGetValue(name, out var text) ? text : Heads[name];

    /// <summary>
    /// A fresh model for examples of <paramref name="inputShape"/> (C, H, W for a CNN; dim for a head) with weights drawn
    /// from torch's generator (seed it first for reproducible weights).
    /// </summary>
    public static Sequential Create(string name, int classes, long[] inputShape)
    {
        if (!ImageModels.ContainsKey(name))
            return CreateHead(name, classes, inputShape[^1]);
        if (inputShape is not [var channels, var rows, var columns])
            throw new ArgumentException($"model '{name}' takes images (C, H, W), not examples of shape ({string.Join(", ", inputShape)})", nameof(inputShape));
        return CreateCnn(name, classes, (int)channels, (int)rows, (int)columns);
    }

    static Sequential CreateHead(string name, int classes, long dim) => name switch
    {
        "logistic" => Sequential(("dense", Linear(dim, classes))),
        "mlp" => Sequential(("dense", Linear(dim, 256)), ("relu", ReLU()), ("dropout", Dropout(0.3)), ("dense_1", Linear(256, classes))),
        _ => throw new ArgumentException($"unknown head '{name}' (heads: {string.Join(", ", Heads.Keys)})", nameof(name)),
    };

    /// <summary>A side's length after a stride-2 convolution that pads to keep every pixel (⌈n/2⌉).</summary>
    static long Halved(long n) => (n + 1) / 2;

    static Sequential CreateCnn(string name, int classes, int channels, int rows, int columns) => name switch
    {
        "reference" => Sequential(
            // One pass each way over the 3×3 convolution's activation instead of four (see ConvRelu).
            ("conv2d", new Conv2dRelu(channels, 32)),
            ("flatten", Flatten()),
            ("dense", Linear(32L * (rows - 2) * (columns - 2), 128)),
            ("relu_1", ReLU()),
            ("dense_1", Linear(128, classes))),
        "compact" => Sequential(
            ("conv2d", Conv2d(channels, 32, 3, padding: 1, bias: false)),
            ("batch_norm", BatchNorm2d(32)),
            ("relu", ReLU()),
            ("max_pool", MaxPool2d(2)),
            ("conv2d_1", Conv2d(32, 64, 3, padding: 1, bias: false)),
            ("batch_norm_1", BatchNorm2d(64)),
            ("relu_1", ReLU()),
            ("max_pool_1", MaxPool2d(2)),
            ("conv2d_2", Conv2d(64, 64, 3, padding: 1, bias: false)),
            ("batch_norm_2", BatchNorm2d(64)),
            ("relu_2", ReLU()),
            ("flatten", Flatten()),
            ("dropout", Dropout(0.3)),
            ("dense", Linear(64L * (rows / 4) * (columns / 4), classes))),
        // Strides instead of pooling: no layer works at full size, so it learns the most per second of training here.
        "strided" => Sequential(
            ("conv2d", Conv2d(channels, 32, 5, stride: 2, padding: 2, bias: false)),
            ("batch_norm", BatchNorm2d(32)),
            ("relu", ReLU()),
            ("conv2d_1", Conv2d(32, 48, 3, padding: 1, bias: false)),
            ("batch_norm_1", BatchNorm2d(48)),
            ("relu_1", ReLU()),
            ("conv2d_2", Conv2d(48, 128, 3, stride: 2, padding: 1, bias: false)),
            ("batch_norm_2", BatchNorm2d(128)),
            ("relu_2", ReLU()),
            ("flatten", Flatten()),
            ("dense", Linear(128L * Halved(Halved(rows)) * Halved(Halved(columns)), 128)),
            ("relu_3", ReLU()),
            ("dropout", Dropout(0.3)),
            ("dense_1", Linear(128, classes))),
        // Downsampling convolutions, then the mean of each channel: the classifier sees 128 numbers at any image size.
        "pooled" => Sequential(
            ("conv2d", Conv2d(channels, 32, 3, stride: 2, padding: 1, bias: false)),
            ("batch_norm", BatchNorm2d(32)),
            ("relu", ReLU()),
            ("conv2d_1", Conv2d(32, 32, 3, padding: 1, bias: false)),
            ("batch_norm_1", BatchNorm2d(32)),
            ("relu_1", ReLU()),
            ("conv2d_2", Conv2d(32, 64, 3, stride: 2, padding: 1, bias: false)),
            ("batch_norm_2", BatchNorm2d(64)),
            ("relu_2", ReLU()),
            ("conv2d_3", Conv2d(64, 128, 3, stride: 2, padding: 1, bias: false)),
            ("batch_norm_3", BatchNorm2d(128)),
            ("relu_3", ReLU()),
            ("conv2d_4", Conv2d(128, 128, 3, stride: 2, padding: 1, bias: false)),
            ("batch_norm_4", BatchNorm2d(128)),
            ("relu_4", ReLU()),
            ("global_pool", AdaptiveAvgPool2d(1)),
            ("flatten", Flatten()),
            ("dense", Linear(128, classes))),
        _ => throw new ArgumentException($"unknown model '{name}' (models: {string.Join(", ", ImageModels.Keys)})", nameof(name)),
    };

    public static long ParameterCount(Module module) => module.parameters().Sum(p => p.numel());
}
