using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Build.Host;
using Pipeline.Parameters;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class ParameterTests
{
    static ParameterSet Parse(params string[] overrides) => ParameterSet.Parse(JsonNode.Parse("""
        { "download": { "dataset": "mnist", "retries": 3 }, "verify": { "validation": 5000 } }
        """), "params.json", overrides);

    [Fact]
    public void A_missing_section_keeps_the_defaults() =>
        Assert.Equal(["train", "validation", "test"], Parse().BindAll<PipelineParameters>().Export.Splits);

    [Fact]
    public void The_checked_in_parameters_file_binds()
    {
        var parameters = ParameterSet.Load(Path.Combine(TestHost.Root, "params.json"), []).BindAll<PipelineParameters>();
        Assert.Equal("mnist", parameters.Download.Dataset);
        Assert.Equal(5000, parameters.Verify.Validation);
    }

    [Fact]
    public void A_set_override_replaces_the_value_with_its_json_type()
    {
        Assert.Equal(10000, Parse("verify.validation=10000").BindAll<PipelineParameters>().Verify.Validation);
        Assert.Equal("fashion", Parse("download.dataset=fashion").BindAll<PipelineParameters>().Download.Dataset);
    }

    [Theory]
    [InlineData("verify.validation=abc", "verify.validation expects a whole number, got \"abc\"")]
    [InlineData("verify.validation=1.5", "verify.validation expects a whole number, got 1.5")]
    [InlineData("verify.validaton=1", "verify.validaton is not a parameter of 'verify' (known: validation, skip_unreadable, max_image_pixels)")]
    [InlineData("verify.validation=-1", "verify.validation must be ≥ 0, got -1")]
    [InlineData("download.retries=99", "download.retries must be between 0 and 20, got 99")]
    [InlineData("predict.framing=crop", "predict.framing must be \"auto\" or \"none\", got \"crop\"")]
    [InlineData("predict.unlike_threshold=0", "predict.unlike_threshold must be above 0, got 0")]
    public void A_bad_value_names_the_key_and_what_it_expects(string assignment, string message)
    {
        var error = Assert.Throws<ParameterException>(() => Parse(assignment).BindAll<PipelineParameters>());
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("trian.epochs=6", "--set trian.epochs=6: unknown section 'trian' (sections: download, verify, export, augment, featurize, train, transfer, evaluate, cache, predict, slurm)")]
    [InlineData("validation=5", "--set validation=5: expected section.key=value (e.g. verify.validation=10000)")]
    public void A_malformed_override_is_rejected(string assignment, string message) =>
        Assert.Equal(message, Assert.Throws<ParameterException>(() => Parse(assignment).BindAll<PipelineParameters>()).Message);

    [Fact]
    public void An_override_sets_its_key_in_a_section_the_file_leaves_out()
    {
        // A recipe file holds only the sections it changes; --set still reaches the others.
        var bound = Parse("train.epochs=6").BindAll<PipelineParameters>();
        Assert.Equal(6, bound.Train.Epochs);
        Assert.Equal("reference", bound.Train.Model);
    }

    [Fact]
    public void A_hosts_option_sets_its_key_even_in_a_section_the_file_leaves_out()
    {
        var set = ParameterSet.Parse(JsonNode.Parse("""{ "download": {} }"""), "params.json", []);
        var bound = set.Set("predict", "top", 5).Set("predict", "images", new JsonArray("a.png")).BindAll<PipelineParameters>();
        Assert.Equal(5, bound.Predict.Top);
        Assert.Equal(["a.png"], bound.Predict.Images);
        Assert.Equal("", bound.Predict.Model);
    }

    [Fact]
    public void An_unknown_section_is_rejected()
    {
        var set = ParameterSet.Parse(JsonNode.Parse("""{ "download": {}, "verify": {}, "verfy": {} }"""), "params.json", []);
        Assert.Equal("params.json: unknown section 'verfy' (sections: download, verify, export, augment, featurize, train, transfer, evaluate, cache, predict, slurm)",
            Assert.Throws<ParameterException>(() => set.BindAll<PipelineParameters>()).Message);
    }

    [Fact]
    public void Dataset_definitions_are_data_and_name_their_mirror_variable()
    {
        var mnist = DatasetDefinition.Load("mnist", Path.Combine(TestHost.Root, "datasets"));
        Assert.Equal(4, mnist.Files.Count);
        Assert.Equal("PIPELINE_MNIST_MIRROR", mnist.MirrorVariable);
        var error = Assert.Throws<DatasetException>(() => DatasetDefinition.Load("kmnist", Path.Combine(TestHost.Root, "datasets")));
        Assert.Contains("known: fashion-mnist, mnist", error.Message);
    }
}
