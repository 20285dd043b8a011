using Pipeline.Parameters;

namespace Build.Host;

/// <summary>
/// Every section of the parameters file, typed: the records marked <see cref="ParameterSectionAttribute"/> in the
/// assemblies that declare the host's stages. A stage's declaration names the keys that shape its outputs.
/// </summary>
public sealed class PipelineParameters
{
    /// <summary>The sections by name, found once.</summary>
    public static IReadOnlyDictionary<string, Type> Declared { get; } = ParameterSectionAttribute.In(
        TaskCatalog.Discover(typeof(PipelineParameters).Assembly).Stages.Select(s => s.GetType().Assembly));

    readonly IReadOnlyDictionary<string, object> sections;

    PipelineParameters(IReadOnlyDictionary<string, object> sections) => this.sections = sections;

    /// <summary>Binds every declared section of <paramref name="set"/>; a section the file leaves out holds its defaults.</summary>
    public static PipelineParameters Bind(ParameterSet set) => new(set.BindAll(Declared));

    /// <summary>The sections by their name in the parameters file, as the stages read them.</summary>
    public IReadOnlyDictionary<string, object> Sections() => sections;

    public T Section<T>() where T : class => sections.Values.OfType<T>().Single();
}
