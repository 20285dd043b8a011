using System.Text.Json.Nodes;
using Pipeline.Acquisition;
using Build.Host;
using Pipeline.Imaging;
using Pipeline.Parameters;
using Pipeline.Prediction;
using Pipeline.Training;

namespace Pipeline.Tests;

[Trait("Category", "Unit")]
public class ParameterTests
{
    static ParameterSet Parse(params string[] overrides) => ParameterSet.Parse(JsonNode.Parse("""
        { "download": { "dataset": "mnist", "retries": 3 }, "verify": { "validation": 5000 } }
        """), "params.json", overrides);

    [Fact]
    public void A_missing_section_keeps_the_defaults() =>
        Assert.Equal(["train", "validation", "test"], PipelineParameters.Bind(Parse()).Section<ExportParameters>().Splits);

    [Fact]
    public void The_checked_in_parameters_file_binds()
    {
        var parameters = PipelineParameters.Bind(ParameterSet.Load(Path.Combine(TestHost.Root, "params.json"), []));
        Assert.Equal("mnist", parameters.Section<DownloadParameters>().Dataset);
        Assert.Equal(5000, parameters.Section<VerifyParameters>().Validation);
    }

    [Fact]
    public void A_set_override_replaces_the_value_with_its_json_type()
    {
        Assert.Equal(10000, PipelineParameters.Bind(Parse("verify.validation=10000")).Section<VerifyParameters>().Validation);
        Assert.Equal("fashion", PipelineParameters.Bind(Parse("download.dataset=fashion")).Section<DownloadParameters>().Dataset);
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
        var error = Assert.Throws<ParameterException>(() => PipelineParameters.Bind(Parse(assignment)));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("trian.epochs=6", "--set trian.epochs=6: unknown section 'trian' (sections: {sections})")]
    [InlineData("validation=5", "--set validation=5: expected section.key=value (e.g. verify.validation=10000)")]
    public void A_malformed_override_is_rejected(string assignment, string message) =>
        Assert.Equal(message.Replace("{sections}", Sections), Assert.Throws<ParameterException>(() => PipelineParameters.Bind(Parse(assignment))).Message);

    /// <summary>The declared sections as the messages list them: by name, in ordinal order.</summary>
    static string Sections => string.Join(", ", PipelineParameters.Declared.Keys);

    [Fact]
    public void An_override_sets_its_key_in_a_section_the_file_leaves_out()
    {
        // A recipe file holds only the sections it changes; --set still reaches the others.
        var bound = PipelineParameters.Bind(Parse("train.epochs=6"));
        Assert.Equal(6, bound.Section<TrainParameters>().Epochs);
        Assert.Equal("reference", bound.Section<TrainParameters>().Model);
    }

    [Fact]
    public void A_hosts_option_sets_its_key_even_in_a_section_the_file_leaves_out()
    {
        var set = ParameterSet.Parse(JsonNode.Parse("""{ "download": {} }"""), "params.json", []);
        var bound = PipelineParameters.Bind(set.Set("predict", "top", 5).Set("predict", "images", new JsonArray("a.png")));
        Assert.Equal(5, bound.Section<PredictParameters>().Top);
        Assert.Equal(["a.png"], bound.Section<PredictParameters>().Images);
        Assert.Equal("", bound.Section<PredictParameters>().Model);
    }

    [Fact]
    public void An_unknown_section_is_rejected()
    {
        var set = ParameterSet.Parse(JsonNode.Parse("""{ "download": {}, "verify": {}, "verfy": {} }"""), "params.json", []);
        Assert.Equal($"params.json: unknown section 'verfy' (sections: {Sections})",
            Assert.Throws<ParameterException>(() => PipelineParameters.Bind(set)).Message);
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
