using System.Diagnostics;
using System.Text.Json;
using Pipeline.Training;
using Pipeline.Training.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

// bench/TorchProbe gemm [SIZE]       attainable single-precision GFLOP/s of libtorch's mm (median of 7)
// bench/TorchProbe profile [BATCH]   a catalog model's training step split into phases, ms per batch
//                                    (PROBE_MODEL=name: another model than the reference;
//                                    PROBE_ADAM=torchsharp: TorchSharp's Adam instead of the fused step)
// bench/TorchProbe dense [BATCH]    the reference's three dense-layer GEMMs (forward, weight and input gradients)
//                                    in GFLOP/s, each as a fraction of the 4096² probe measured alternately with them
// bench/TorchProbe layers [BATCH]    each layer's forward time in training mode, ms per batch (PROBE_MODEL as above)
// bench/TorchProbe convrelu [BATCH]  the reference's first layer (3×3 conv and ReLU) forward and backward: libtorch's
//                                    ops against ConvRelu, alternately, ms per batch (medians), and their largest difference
string mode = args.Length > 0 ? args[0] : "gemm";
TorchRuntime.Initialize(0, mklIntelPath: Environment.GetEnvironmentVariable("PROBE_MKL_INTEL") != "0", Path.Combine(Path.GetTempPath(), "pipeline-probe"));

if (mode == "gemm")
{
    int n = args.Length > 1 ? int.Parse(args[1]) : 4096;
    random.manual_seed(1);
    using var a = randn(n, n);
    using var b = randn(n, n);
    var seconds = new List<double>();
    for (int i = 0; i < 9; i++)
    {
        var watch = Stopwatch.StartNew();
        using (var c = a.mm(b)) c.sum().item<float>();
        if (i >= 2) seconds.Add(watch.Elapsed.TotalSeconds);
    }
    double gflops = 2.0 * n * n * n / Median(seconds) / 1e9;
    Console.WriteLine(JsonSerializer.Serialize(new { probe = "gemm", size = n, threads = get_num_threads(), gflops_per_second = Math.Round(gflops, 1), versions = TorchRuntime.Versions }));
}
else if (mode == "dense")
    await Task.Run(Dense);
else if (mode == "profile")
    await Task.Run(Profile);
else if (mode == "convrelu")
    await Task.Run(ConvReluProbe);
else if (mode == "layers")
{
    int batch = args.Length > 1 ? int.Parse(args[1]) : 256;
    random.manual_seed(1);
    string name = Environment.GetEnvironmentVariable("PROBE_MODEL") is { Length: > 0 } chosen ? chosen : "reference";
    var model = ModelCatalog.Create(name, 10, [1, 28, 28]);
    model.train();
    using var x0 = rand(batch, 1, 28, 28);
    var forward = new SortedDictionary<string, double>();
    for (int round = 0; round < 30; round++)
    {
        using var scope = NewDisposeScope();
        Tensor x = x0;
        int i = 0;
        foreach (var (layer, module) in model.named_children())
        {
            var watch = Stopwatch.StartNew();
            x = ((TorchSharp.torch.nn.Module<Tensor, Tensor>)module).call(x);
            x.sum().item<float>();
            if (round >= 5) { string key = $"{i++:D2} {layer}"; forward[key] = forward.GetValueOrDefault(key) + watch.Elapsed.TotalMilliseconds / 25; }
        }
    }
    foreach (var (k, v) in forward) Console.WriteLine($"{k,-20} {v,8:F2} ms");
}

// Alternating rounds so that a busy neighbour slows the probe and the dense GEMMs alike; medians of 9 rounds.
void Dense()
{
    int batch = args.Length > 1 ? int.Parse(args[1]) : 512;
    const int n = 4096;
    random.manual_seed(1);
    using var w = ModelCatalog.Create("reference", 10, [1, 28, 28]).named_parameters().Single(p => p.name == "dense.weight").parameter.detach();
    long units = w.shape[0], features = w.shape[1];
    using var x = rand(batch, features);
    using var gy = randn(batch, units);
    using var a = randn(n, n);
    (string Name, double Flops, Func<Tensor> Run)[] gemms =
    [
        ("probe mm 4096²", 2.0 * n * n * n, () => a.mm(a)),
        ("forward x·Wᵀ", 2.0 * batch * features * units, () => x.mm(w.t())),
        ("weight gradient gyᵀ·x", 2.0 * batch * features * units, () => gy.t().mm(x)),
        ("input gradient gy·W", 2.0 * batch * features * units, () => gy.mm(w)),
    ];
    var rates = gemms.ToDictionary(g => g.Name, _ => new List<double>());
    for (int round = 0; round < 11; round++)
        foreach (var (name, flops, run) in gemms)
        {
            var watch = Stopwatch.StartNew();
            using (var c = run()) c.sum().item<float>();
            if (round >= 2) rates[name].Add(flops / watch.Elapsed.TotalSeconds / 1e9);
        }
    double probe = Median(rates[gemms[0].Name]);
    foreach (var (name, _, _) in gemms)
        Console.WriteLine($"{name,-24} {Median(rates[name]),7:F1} GFLOP/s {Median(rates[name]) / probe,5:P0} of the probe");
}

// On a pool thread, as the pipeline runs a stage (glibc gives such threads arenas of their own).
void Profile()
{
    int batch = args.Length > 1 ? int.Parse(args[1]) : 512;
    random.manual_seed(1);
    string name = Environment.GetEnvironmentVariable("PROBE_MODEL") is { Length: > 0 } chosen ? chosen : "reference";
    var model = ModelCatalog.Create(name, 10, [1, 28, 28]);
    using var optimizer = Environment.GetEnvironmentVariable("PROBE_ADAM") == "torchsharp"
        ? optim.Adam(model.parameters(), lr: 1e-3) : new FusedAdam(model.parameters(), 1e-3);
    using var images = rand(60000, 1, 28, 28);
    using var labels = randint(0, 10, [60000]);
    var phases = new SortedDictionary<string, double>();
    void Time(string phase, Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        phases[phase] = phases.GetValueOrDefault(phase) + watch.Elapsed.TotalMilliseconds;
    }
    int batches = 0;
    var total = Stopwatch.StartNew();
    for (int start = 0; start + batch <= 60000; start += batch)
    {
        using var scope = NewDisposeScope();
        Tensor x = null!, y = null!, logits = null!, loss = null!;
        Time("0 gather batch", () => { var idx = arange(start, start + batch); x = images.index_select(0, idx); y = labels.index_select(0, idx); });
        Time("1 forward", () => { logits = model.call(x); loss = cross_entropy(logits, y); });
        Time("2 zero_grad", () => model.zero_grad(set_to_none: true));
        Time("3 backward", () => loss.backward());
        Time("4 optimizer step", () => optimizer.step());
        Time("5 item/argmax", () => { loss.item<float>(); logits.argmax(1).eq(y).sum().item<long>(); });
        batches++;
    }
    double seconds = total.Elapsed.TotalSeconds;
    Console.WriteLine(JsonSerializer.Serialize(new { probe = "profile", model = name, batch, adam = optimizer.GetType().Name, images_per_second = Math.Round(batches * batch / seconds), ms_per_batch = phases.ToDictionary(p => p.Key, p => Math.Round(p.Value / batches, 2)) }));
}

void ConvReluProbe()
{
    int batch = args.Length > 1 ? int.Parse(args[1]) : 512;
    random.manual_seed(1);
    using var conv = nn.Conv2d(1, 32, 3);
    using var x = rand(batch, 1, 28, 28);
    using var upstream = randn(batch, 32, 26, 26);
    var sides = new (string Name, Func<Tensor, Tensor, Tensor, Tensor> Run)[]
    {
        ("libtorch", (xi, w, b) => relu(conv2d(xi, w, b))),
        ("ConvRelu", ConvRelu.Apply),
    };
    var times = sides.ToDictionary(s => s.Name, _ => (Forward: new List<double>(), Backward: new List<double>()));
    var results = new Dictionary<string, (float[] Y, float[] Gw, float[] Gb)>();
    for (int round = 0; round < 23; round++)
        foreach (var (name, run) in sides)
        {
            using var scope = NewDisposeScope();
            var w = conv.weight!.detach().clone().requires_grad_(true);
            var b = conv.bias!.detach().clone().requires_grad_(true);
            var watch = Stopwatch.StartNew();
            var y = run(x, w, b);
            double forward = watch.Elapsed.TotalMilliseconds;
            watch.Restart();
            y.backward([upstream]);
            double backward = watch.Elapsed.TotalMilliseconds;
            if (round >= 3) { times[name].Forward.Add(forward); times[name].Backward.Add(backward); }
            if (round == 0) results[name] = (y.data<float>().ToArray(), w.grad!.data<float>().ToArray(), b.grad!.data<float>().ToArray());
        }
    static double MaxRelative(float[] a, float[] b) => a.Zip(b).Max(p => Math.Abs(p.First - p.Second) / Math.Max(1e-3, Math.Abs(p.First)));
    var (ly, lw, lb) = results["libtorch"];
    var (fy, fw, fb) = results["ConvRelu"];
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        probe = "convrelu", batch,
        ms_per_batch = times.ToDictionary(t => t.Key, t => new { forward = Math.Round(Median(t.Value.Forward), 2), backward = Math.Round(Median(t.Value.Backward), 2) }),
        largest_relative_difference = new { output = MaxRelative(ly, fy), weight_gradient = MaxRelative(lw, fw), bias_gradient = MaxRelative(lb, fb) },
    }));
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
