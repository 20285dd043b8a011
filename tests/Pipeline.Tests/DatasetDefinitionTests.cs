using System.Text.Json.Nodes;
using Pipeline.Acquisition;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class DatasetDefinitionTests : IDisposable
{
    readonly TempFolder temp = new();
    static readonly string Definitions = Path.Combine(TestHost.Root, "datasets");

    public void Dispose() => temp.Dispose();

    /// <summary>mnist.json with one change, written as bad.json; Load's error.</summary>
    DatasetException LoadChanged(Action<JsonObject> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Definitions, "mnist.json")))!.AsObject();
        change(json);
        File.WriteAllText(temp["bad.json"], json.ToJsonString());
        return Assert.Throws<DatasetException>(() => DatasetDefinition.Load(temp["bad.json"], Definitions));
    }

    static JsonArray Classes(params string[] names) => new([.. names.Select(n => JsonValue.Create(n))]);

    const string Unsafe = "is not safe as a folder name (letters, digits, space, '_', '-', '.'; not '.' or '..'; no space at either end)";

    [Theory]
    [InlineData("a/b", "'a/b' (label 3) " + Unsafe)]
    [InlineData("..", "'..' (label 3) " + Unsafe)]
    [InlineData(".", "'.' (label 3) " + Unsafe)]
    [InlineData("", "'' (label 3) " + Unsafe)]
    [InlineData("bell\u0007", "'bell\\u0007' (label 3) " + Unsafe)]
    [InlineData("line\n", "'line\\u000a' (label 3) " + Unsafe)]
    [InlineData(" padded", "' padded' (label 3) " + Unsafe)]
    [InlineData("T-shirt/top", "'T-shirt/top' (label 3) " + Unsafe)]
    [InlineData("1", "'1' (label 3) repeats class '1' (label 1)")]
    [InlineData("Two", "'Two' (label 3) repeats class 'two' (label 2)")] // one folder on Windows and macOS
    public void A_class_name_that_is_not_a_safe_distinct_folder_name_is_rejected_at_load(string name, string problem)
    {
        var error = LoadChanged(json => json["classes"] = Classes("0", "1", "two", name, "4", "5", "6", "7", "8", "9"));
        Assert.Equal($"{temp["bad.json"]}: class {problem}", error.Message);
    }

    [Fact]
    public void Every_problem_is_named_at_once()
    {
        var error = LoadChanged(json => json["classes"] = Classes("ok", "a/b", "ok"));
        Assert.Contains("class 'a/b' (label 1) is not safe", error.Message);
        Assert.Contains("class 'ok' (label 2) repeats class 'ok' (label 0)", error.Message);
    }

    [Fact]
    public void A_file_without_a_pin_or_with_half_a_wrapper_pin_is_rejected()
    {
        var none = LoadChanged(json => json["files"]!["train-labels-idx1-ubyte.gz"] = new JsonObject());
        Assert.Contains("train-labels-idx1-ubyte.gz: no pin: give size and sha256 (the file as served), a payload (its decompressed content), or both", none.Message);

        var half = LoadChanged(json => json["files"]!["train-labels-idx1-ubyte.gz"]!.AsObject().Remove("sha256"));
        Assert.Contains("train-labels-idx1-ubyte.gz: size and sha256 pin the file together: give both or neither", half.Message);

        var payload = LoadChanged(json => json["files"]!["train-labels-idx1-ubyte.gz"]!["payload"]!["sha256"] = "ABC");
        Assert.Contains("train-labels-idx1-ubyte.gz: payload.sha256 must be 64 lowercase hex digits", payload.Message);
    }

    [Fact]
    public void A_misspelt_key_is_an_error_not_a_pin_silently_dropped()
    {
        var error = LoadChanged(json =>
        {
            var pin = json["files"]!["train-labels-idx1-ubyte.gz"]!.AsObject();
            pin["paylod"] = pin["payload"]!.DeepClone();
            pin.Remove("payload");
        });
        Assert.StartsWith($"{temp["bad.json"]}: not a valid dataset definition", error.Message);
        Assert.Contains("paylod", error.Message);
    }

    [Fact]
    public void A_file_pinned_by_its_payload_alone_loads()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Definitions, "mnist.json")))!.AsObject();
        foreach (var (_, pin) in json["files"]!.AsObject())
        {
            pin!.AsObject().Remove("size");
            pin.AsObject().Remove("sha256");
        }
        File.WriteAllText(temp["payload-only.json"], json.ToJsonString());
        var definition = DatasetDefinition.Load(temp["payload-only.json"], Definitions);
        Assert.All(definition.Files.Values, pin => Assert.False(pin.HasWrapperPin));
        Assert.All(definition.Files.Values, pin => Assert.NotNull(pin.Payload));
    }

    [Fact]
    public void The_fashion_mnist_definition_names_its_ten_classes()
    {
        var fashion = DatasetDefinition.Load("fashion-mnist", Definitions);
        Assert.Equal(["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"], fashion.Classes);
        Assert.Equal("PIPELINE_FASHION_MNIST_MIRROR", fashion.MirrorVariable);
        Assert.All(fashion.Files.Values, pin => Assert.NotNull(pin.Payload));
    }
}
