using Build.Host;

namespace Pipeline.Tests;

/// <summary>build/Host/CommandLine.cs: what the options become, and the messages of the mistakes (the host exits 2 on them).</summary>
[Trait("Category", "Unit")]
public class CommandLineTests
{
    [Fact]
    public void No_options_give_the_defaults()
    {
        var settings = CommandLine.Parse([]);
        Assert.Null(settings.Target);
        Assert.Equal(1, settings.Jobs);
        Assert.Equal("normal", settings.Verbosity);
        Assert.Equal("local", settings.Executor);
        Assert.Equal(1, settings.Shards);
        Assert.Equal(600, settings.LockWaitSeconds);
        Assert.True(settings.CacheUpload);
        Assert.False(settings.DryRun || settings.Force || settings.Exclusive || settings.NoCache);
        Assert.Empty(settings.Sets);
    }

    [Fact]
    public void Both_spellings_of_a_value_flags_and_repeatable_options_are_read()
    {
        var settings = CommandLine.Parse(["--target=Train", "--jobs", "3", "--set", "train.epochs=2", "--set=verify.validation=10",
            "--mirror=a", "--mirror=b", "--dry-run", "--force=false", "--cache-upload=false", "--verbosity=QUIET", "--lock-wait=1.5",
            "--executor=slurm", "--shards=4", "--top=5", "--images=x.png", "--images=y/"]);
        Assert.Equal("Train", settings.Target);
        Assert.Equal(3, settings.Jobs);
        Assert.Equal(["train.epochs=2", "verify.validation=10"], settings.Sets);
        Assert.Equal(["a", "b"], settings.Mirrors);
        Assert.True(settings.DryRun); // --dry-run is --dryrun
        Assert.False(settings.Force);
        Assert.False(settings.CacheUpload);
        Assert.Equal("quiet", settings.Verbosity);
        Assert.Equal(1.5, settings.LockWaitSeconds);
        Assert.Equal(("slurm", 4), (settings.Executor, settings.Shards));
        Assert.Equal(5, settings.Top);
        Assert.Equal(["x.png", "y/"], settings.Images);
        Assert.Equal((2, 4), CommandLine.Parse(["--shard=2/4"]).Shard);
    }

    [Fact]
    public void Serve_and_port_are_read_for_the_report()
    {
        var plain = CommandLine.Parse(["--target=Report"]);
        Assert.Equal((false, PipelineSettings.DefaultPort), (plain.Serve, plain.Port));
        var served = CommandLine.Parse(["--target=report", "--serve", "--port", "9123"]);
        Assert.Equal((true, 9123), (served.Serve, served.Port));
    }

    [Theory]
    [InlineData("--taget=Train", "unknown option --taget (did you mean --target?) (see --help)")]
    [InlineData("--colour", "unknown option --colour (see --help)")]
    [InlineData("Train", "unexpected argument 'Train': options look like --name=value (see --help)")]
    [InlineData("--target", "--target needs a value: --target=TASK")]
    [InlineData("--target=A --target=B", "--target was given more than once")]
    [InlineData("--force=maybe", "--force is a flag: give it alone, or as --force=true|false (got 'maybe')")]
    [InlineData("--jobs=0", "--jobs=0: expected a whole number from 1 to 64")]
    [InlineData("--jobs=65", "--jobs=65: expected a whole number from 1 to 64")]
    [InlineData("--verbosity=loud", "--verbosity=loud: expected one of quiet, minimal, normal, verbose, diagnostic")]
    [InlineData("--lock-wait=-1", "--lock-wait=-1: expected a number of seconds ≥ 0")]
    [InlineData("--index=x", "--index=x: expected a whole number ≥ 0")]
    [InlineData("--top=0", "--top=0: expected a whole number ≥ 1")]
    [InlineData("--shard=4/4", "--shard=4/4: expected I/N with 0 ≤ I < N, e.g. --shard=2/4")]
    [InlineData("--shard=1/4 --force", "--shard runs one shard of the target as it is: not with --executor=slurm, --sweep, --dryrun or --force")]
    [InlineData("--shards=2", "--shards needs --executor=slurm (a local run is one shard)")]
    [InlineData("--cache-url=ftp://cache.example/", "--cache-url=ftp://cache.example/: expected http://HOST[:PORT]/PATH")]
    [InlineData("--serve", "--serve is an option of --target=Report")]
    [InlineData("--target=Train --serve", "--serve is an option of --target=Report")]
    [InlineData("--target=Report --port=9000", "--port needs --serve (with --target=Report)")]
    [InlineData("--target=Report --serve --port=0", "--port=0: expected a whole number from 1 to 65535")]
    [InlineData("--target=Report --serve --port=http", "--port=http: expected a whole number from 1 to 65535")]
    public void A_mistake_is_a_usage_error_naming_it(string args, string message)
    {
        var error = Assert.Throws<UsageException>(() => CommandLine.Parse(args.Split(' ')));
        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("--jobs=0")]
    [InlineData("--nope")]
    public async Task The_host_exits_2_on_a_usage_error_before_running_anything(string arg)
    {
        Assert.Equal(2, await PipelineHost.RunAsync([arg]));
    }
}
