using Pipeline.Imaging;
using Pipeline.Parameters;

namespace Pipeline.Acquisition;

/// <summary>The <c>download</c> section. Only the dataset shapes the output; the rest says how hard to try.</summary>
[ParameterSection("download")]
public sealed record DownloadParameters(
    string Dataset = "mnist",
    int Retries = 3,
    double ConnectTimeoutSeconds = 15,
    double ReadTimeoutSeconds = 30) : IValidatedParameters
{
    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Dataset)) yield return "dataset must name a dataset definition (e.g. mnist)";
        if (Retries is < 0 or > 20) yield return $"retries must be between 0 and 20, got {Retries}";
        if (ConnectTimeoutSeconds <= 0) yield return $"connect_timeout_seconds must be > 0, got {ConnectTimeoutSeconds}";
        if (ReadTimeoutSeconds <= 0) yield return $"read_timeout_seconds must be > 0, got {ReadTimeoutSeconds}";
    }

    [System.Text.Json.Serialization.JsonIgnore]
    public DownloadOptions Options => new()
    {
        Retries = Retries,
        ConnectTimeout = TimeSpan.FromSeconds(ConnectTimeoutSeconds),
        ReadTimeout = TimeSpan.FromSeconds(ReadTimeoutSeconds),
    };
}

/// <summary>
/// The <c>verify</c> section: how many training images of an IDX dataset to hold out for validation; whether a folder
/// dataset's files that do not decode are left out (and listed) instead of failing the run; the most pixels an image's
/// header may claim (Verify and Predict refuse larger ones before decoding them).
/// </summary>
[ParameterSection("verify")]
public sealed record VerifyParameters(int Validation = 5000, bool SkipUnreadable = false, long MaxImagePixels = ImageLoader.DefaultMaxPixels)
    : IValidatedParameters
{
    public IEnumerable<string> Validate()
    {
        if (Validation < 0) yield return $"validation must be ≥ 0, got {Validation}";
        if (MaxImagePixels is < 1 or > ImageLoader.LargestMaxPixels)
            yield return $"max_image_pixels must be between 1 and {ImageLoader.LargestMaxPixels:N0}, got {MaxImagePixels}";
    }
}
