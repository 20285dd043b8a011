using System.Text;

namespace Build.Host;

/// <summary>The parsed command line: the typed settings every task reads from the context.</summary>
public sealed record PipelineSettings
{
    public string? Target { get; init; }
    public bool DryRun { get; init; }
    public bool Tree { get; init; }
    public bool Force { get; init; }
    public bool Exclusive { get; init; }
    public bool Help { get; init; }
    public bool NoCache { get; init; }
    /// <summary>The shared run cache (--cache-url or PIPELINE_CACHE_URL); null: this machine's run cache only.</summary>
    public Uri? CacheUrl { get; init; }
    /// <summary>--cache-upload=false: fetch runs from the shared cache, never send any.</summary>
    public bool CacheUpload { get; init; } = true;
    public string? Experiment { get; init; }
    public IReadOnlyList<string> Sweeps { get; init; } = [];
    /// <summary>--search, --space, --search-file, --trials, --seed, --objective, --prune and --study (docs/search.md); null: no search.</summary>
    public SearchOptions? Search { get; init; }
    /// <summary>--study=NAME: the study to run, continue, or (with --target=Experiments) show.</summary>
    public string? Study { get; init; }
    /// <summary>table, md, csv or json; json: stdout holds only JSON (logs and the summary go to stderr).</summary>
    public string Format { get; init; } = "table";
    public bool Json => Format == "json";
    /// <summary>Where text for people goes (tables, verdicts, sweep lines): stderr when stdout is for JSON.</summary>
    public TextWriter People => Json ? Console.Error : Console.Out;
    /// <summary>--report=FILE: the run's summary as JSON (see <see cref="RunReport.ToJson"/>).</summary>
    public string? Report { get; init; }
    public string? SortBy { get; init; }
    public bool AllParams { get; init; }
    public string? A { get; init; }
    public string? B { get; init; }
    public int Jobs { get; init; } = 1;
    public string Verbosity { get; init; } = "normal";
    /// <summary>The parameters file as given (relative to the working directory); null = params.json beside build.sh.</summary>
    public string? Parameters { get; init; }
    /// <summary>The artifacts folder as given (relative to the working directory); null = artifacts/ beside build.sh.</summary>
    public string? Artifacts { get; init; }
    public IReadOnlyList<string> Sets { get; init; } = [];
    public IReadOnlyList<string> Mirrors { get; init; } = [];
    public double LockWaitSeconds { get; init; } = 600;
    public string Split { get; init; } = "train";
    public int Index { get; init; }
    /// <summary>With --target=Predict: the images as given (relative to the working directory); predict.images.</summary>
    public IReadOnlyList<string> Images { get; init; } = [];
    public int? Top { get; init; }
    /// <summary>With --target=Predict: an ONNX file to classify with (relative to the working directory); predict.model.</summary>
    public string? Model { get; init; }
    /// <summary>Where the per-image stages run: local, or slurm (as <see cref="Shards"/> array tasks; sweep points as tasks).</summary>
    public string Executor { get; init; } = "local";
    public int Shards { get; init; } = 1;
    /// <summary>--shard=I/N: this process is shard I of N of the target (what a Slurm task runs).</summary>
    public (int Index, int Count)? Shard { get; init; }
    /// <summary>--trial=N (with --study): this process is trial N of the study, as a Slurm task of a study runs it.</summary>
    public int? Trial { get; init; }
    /// <summary>With --target=Report: serve the page on 127.0.0.1:<see cref="Port"/> until Ctrl-C, with a running training's epochs live.</summary>
    public bool Serve { get; init; }
    public int Port { get; init; } = DefaultPort;
    public const int DefaultPort = 8765;
}

/// <summary>
/// Options in the Cake style: <c>--name=value</c>, <c>--name value</c> or a bare <c>--flag</c>. Unknown options
/// and bad values fail with a message that names them.
/// </summary>
public static class CommandLine
{
    sealed record Option(string Name, string? Value, string Help, bool Repeatable = false);

    static readonly Option[] Options =
    [
        new("target", "TASK", "Run this task and the tasks it depends on (default: Default, which is Evaluate and Export)."),
        new("dryrun", null, "Run nothing; say for each stage whether it would run and why."),
        new("tree", null, "Print the task graph and exit."),
        new("force", null, "Rerun the stages of this run even when they are up to date (with --exclusive: the target only)."),
        new("exclusive", null, "Run only the target, not its dependencies (their outputs must already be complete)."),
        new("verbosity", "LEVEL", "How much to log: quiet, minimal, normal, verbose or diagnostic (default normal)."),
        new("set", "SECTION.KEY=VALUE", "Override one parameter of the parameters file, e.g. --set verify.validation=10000.", Repeatable: true),
        new("params", "FILE", "The parameters file (default params.json beside build.sh)."),
        new("mirror", "URL|FOLDER", "Try this mirror before the dataset's own (a URL or a local folder); PIPELINE_<DATASET>_MIRROR also adds one.", Repeatable: true),
        new("artifacts", "FOLDER", "Where stage outputs go (default artifacts/ beside build.sh)."),
        new("lock-wait", "SECONDS", "How long to wait for another run that holds the artifacts lock (default 600)."),
        new("split", "SPLIT", "With --target=Show: the split to look at (train, validation or test; default train)."),
        new("index", "N", "With --target=Show: the image's index within the split (default 0)."),
        new("no-cache", null, "Run without the run cache: neither restore earlier runs from it nor keep this one."),
        new("cache-url", "URL", "Share the run cache through this HTTP cache (Bazel's protocol: <url>/ac/, <url>/cas/), e.g. nginx; PIPELINE_CACHE_URL also sets it."),
        new("cache-upload", null, "With --cache-url: send this run's stages to the shared cache (default true; --cache-upload=false only fetches)."),
        new("experiment", "NAME", "Name this run's experiment (see --target=Experiments); named experiments are never evicted from the cache."),
        new("sweep", "SECTION.KEY=V1,V2", "Run the pipeline once per point of the grid (repeatable: the grid is the product), each an experiment.", Repeatable: true),
        new("search", "SAMPLER", "Search the --space instead of a grid: random or tpe, --trials times, each trial an experiment (docs/search.md)."),
        new("space", "SECTION.KEY=KIND(…)", "With --search: a searched parameter: float(lo,hi), log(lo,hi), int(lo,hi) or choice(a,b,…).", Repeatable: true),
        new("search-file", "FILE", "With --search (or alone): a JSON file holding the search (sampler, trials, seed, space, objectives, prune); options given override it."),
        new("trials", "N", "With --search: how many trials the study has in all (a rerun with more continues it)."),
        new("seed", "N", "With --search: the sampler's seed (default 0): the same command and seed propose the same trials."),
        new("objective", "METRIC:max|min", "With --search: what the trials are judged by (default accuracy:max); repeat it for a Pareto front.", Repeatable: true),
        new("prune", "PRUNER", "With --search: stop trials that are behind after the warm-up epoch: median or halving (on the first objective)."),
        new("study", "NAME", "With --search: the study's name (its state in artifacts/studies/NAME, continued by a rerun); with --target=Experiments: show it."),
        new("format", "FORMAT", "table (default) or json: with json, stdout holds only JSON (Experiments, Compare, --tree, --dryrun) and logs go to stderr; Experiments also takes md and csv."),
        new("report", "FILE", "Write the run's summary as JSON to FILE: per task its result, reason, fingerprint, duration and output hash."),
        new("sort-by", "METRIC", $"With --target=Experiments or a sweep: sort by this metric, best first ({string.Join(", ", Pipeline.Evaluation.MetricNames.Experiment)})."),
        new("all-params", null, "With --target=Experiments: show every parameter, not only those that differ between the rows."),
        new("a", "ID|NAME", "With --target=Compare: the first experiment."),
        new("b", "ID|NAME", "With --target=Compare: the second experiment."),
        new("jobs", "N", "Run up to N stages at once whose upstream stages are complete (default 1); outputs are the same."),
        new("images", "PATH", "With --target=Predict: an image file, a folder (searched recursively for image files) or a glob to classify (repeatable); sets predict.images.", Repeatable: true),
        new("top", "K", "With --target=Predict: how many of the most probable classes to report per image (default 3); sets predict.top."),
        new("model", "FILE", "With --target=Predict: classify with this ONNX file alone (e.g. artifacts/train/model.onnx); Train is then not needed; sets predict.model."),
        new("executor", "EXECUTOR", "Where Export, Augment and Featurize run: local (default) or slurm (--shards array tasks; with --sweep, one task per grid point; with --search, one per trial)."),
        new("shards", "N", "With --executor=slurm: split each per-image stage into N contiguous index ranges, one Slurm task each (default 1)."),
        new("shard", "I/N", "Run only shard I (from 0) of N of the target, as a Slurm task does: no artifacts lock, writes only its shard folder."),
        new("trial", "N", "With --study: run only trial N of the study as its file holds it, as a Slurm task does: in its own folder, no study lock."),
        new("serve", null, "With --target=Report: serve the page on 127.0.0.1 (loopback only) until Ctrl-C; it shows a running training's epochs as they come."),
        new("port", "N", $"With --serve: the port to serve on (default {PipelineSettings.DefaultPort})."),
        new("help", null, "Show this help and exit."),
    ];

    static readonly string[] Verbosities = ["quiet", "minimal", "normal", "verbose", "diagnostic"];

    public static PipelineSettings Parse(IReadOnlyList<string> args)
    {
        var values = new List<KeyValuePair<string, string>>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--") || arg.Length == 2)
                throw new UsageException($"unexpected argument '{arg}': options look like --name=value (see --help)");
            string body = arg[2..];
            int eq = body.IndexOf('=');
            string name = (eq >= 0 ? body[..eq] : body).ToLowerInvariant();
            name = name == "dry-run" ? "dryrun" : name;
            var option = Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"unknown option --{name}{Suggest(name)} (see --help)");
            string value;
            if (eq >= 0)
                value = body[(eq + 1)..];
            else if (option.Value is null)
                value = "true";
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--"))
                value = args[++i];
            else
                throw new UsageException($"--{name} needs a value: --{name}={option.Value}");
            if (!option.Repeatable && values.Any(v => v.Key == name))
                throw new UsageException($"--{name} was given more than once");
            values.Add(KeyValuePair.Create(name, value));
        }

        string? One(string name) => values.LastOrDefault(v => v.Key == name).Value;
        bool Flag(string name) => One(name) is { } v && (v.Equals("true", StringComparison.OrdinalIgnoreCase)
            ? true : v.Equals("false", StringComparison.OrdinalIgnoreCase) ? false
            : throw new UsageException($"--{name} is a flag: give it alone, or as --{name}=true|false (got '{v}')"));

        string verbosity = (One("verbosity") ?? "normal").ToLowerInvariant();
        if (!Verbosities.Contains(verbosity))
            throw new UsageException($"--verbosity={verbosity}: expected one of {string.Join(", ", Verbosities)}");
        string format = (One("format") ?? "table").ToLowerInvariant();
        if (!Pipeline.Experiments.ExperimentTable.Formats.Contains(format))
            throw new UsageException($"--format={format}: expected one of {string.Join(", ", Pipeline.Experiments.ExperimentTable.Formats)}");
        if (One("report") is "")
            throw new UsageException("--report needs a file: --report=FILE");
        double lockWait = 600;
        if (One("lock-wait") is { } wait && (!double.TryParse(wait, System.Globalization.CultureInfo.InvariantCulture, out lockWait) || lockWait < 0))
            throw new UsageException($"--lock-wait={wait}: expected a number of seconds ≥ 0");

        int jobs = 1;
        if (One("jobs") is { } jobsText && (!int.TryParse(jobsText, out jobs) || jobs is < 1 or > 64))
            throw new UsageException($"--jobs={jobsText}: expected a whole number from 1 to 64");

        int index = 0;
        if (One("index") is { } indexText && (!int.TryParse(indexText, out index) || index < 0))
            throw new UsageException($"--index={indexText}: expected a whole number ≥ 0");

        int? top = null;
        if (One("top") is { } topText)
            top = int.TryParse(topText, out int k) && k >= 1 ? k : throw new UsageException($"--top={topText}: expected a whole number ≥ 1");
        var images = values.Where(v => v.Key == "images").Select(v => v.Value).ToList();
        if (images.Any(string.IsNullOrWhiteSpace) || One("model") is "")
            throw new UsageException($"--{(One("model") is "" ? "model" : "images")} needs a path");

        string executor = (One("executor") ?? "local").ToLowerInvariant();
        if (executor is not ("local" or "slurm"))
            throw new UsageException($"--executor={executor}: expected local or slurm");
        int shards = 1;
        if (One("shards") is { } shardsText && (!int.TryParse(shardsText, out shards) || shards is < 1 or > 10_000))
            throw new UsageException($"--shards={shardsText}: expected a whole number from 1 to 10000");
        if (One("shards") is not null && executor != "slurm")
            throw new UsageException("--shards needs --executor=slurm (a local run is one shard)");
        (int, int)? shard = null;
        if (One("shard") is { } shardText)
        {
            var parts = shardText.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n) || n < 1 || i < 0 || i >= n)
                throw new UsageException($"--shard={shardText}: expected I/N with 0 ≤ I < N, e.g. --shard=2/4");
            if (executor == "slurm" || One("sweep") is not null || Flag("dryrun") || Flag("force"))
                throw new UsageException("--shard runs one shard of the target as it is: not with --executor=slurm, --sweep, --dryrun or --force");
            shard = (i, n);
        }

        bool serve = Flag("serve");
        if (serve && !"Report".Equals(One("target"), StringComparison.OrdinalIgnoreCase))
            throw new UsageException("--serve is an option of --target=Report");
        int port = PipelineSettings.DefaultPort;
        if (One("port") is { } portText)
        {
            if (!serve) throw new UsageException("--port needs --serve (with --target=Report)");
            if (!int.TryParse(portText, out port) || port is < 1 or > 65535)
                throw new UsageException($"--port={portText}: expected a whole number from 1 to 65535");
        }

        var search = SearchOptions.Parse(One("search"), values.Where(v => v.Key == "space").Select(v => v.Value).ToList(), One("search-file"),
            One("trials"), One("seed"), values.Where(v => v.Key == "objective").Select(v => v.Value).ToList(), One("prune"));
        if (search is not null && One("sweep") is not null)
            throw new UsageException("--search and --sweep are two ways to choose the runs: give one");
        if (search is not null && shard is not null)
            throw new UsageException("--shard runs one shard of the target as it is: not with --search");
        string? study = One("study");
        int? trial = null;
        if (One("trial") is { } trialText)
        {
            trial = int.TryParse(trialText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int t)
                ? t : throw new UsageException($"--trial={trialText}: expected a whole number ≥ 0 (a trial of --study)");
            if (study is null || search is not null || executor == "slurm" || shard is not null || One("sweep") is not null || Flag("dryrun"))
                throw new UsageException("--trial runs one trial of a study as the study's file holds it: it needs --study, and takes no --search, --executor=slurm, --shard, --sweep or --dryrun");
        }
        if (study is not null)
        {
            try { Pipeline.Search.Study.CheckName(study); }
            catch (Pipeline.Search.SearchException e) { throw new UsageException(e.Message); }
            if (search is null && trial is null && !string.Equals(One("target"), "Experiments", StringComparison.OrdinalIgnoreCase))
                throw new UsageException("--study needs --search (to run a study) or --target=Experiments (to show one)");
        }

        // The URL is checked before anything runs, and echoed only when it holds no credentials.
        string? cacheVariable = Environment.GetEnvironmentVariable("PIPELINE_CACHE_URL");
        string? cacheText = One("cache-url") ?? (string.IsNullOrEmpty(cacheVariable) ? null : cacheVariable);
        Uri? cacheUrl = null;
        if (cacheText is not null)
        {
            string source = One("cache-url") is null ? "PIPELINE_CACHE_URL" : "--cache-url";
            try { cacheUrl = Pipeline.Stages.RemoteCache.ParseUrl(cacheText); }
            catch (Pipeline.Stages.RemoteCacheException e)
            {
                throw new UsageException($"{source}{(cacheText.Contains('@') ? "" : $"={cacheText}")}: {e.Message}");
            }
        }

        return new PipelineSettings
        {
            Executor = executor,
            Shards = shards,
            Shard = shard,
            Target = One("target"),
            DryRun = Flag("dryrun"),
            Tree = Flag("tree"),
            Force = Flag("force"),
            Exclusive = Flag("exclusive"),
            Help = Flag("help"),
            NoCache = Flag("no-cache"),
            CacheUrl = cacheUrl,
            CacheUpload = One("cache-upload") is null || Flag("cache-upload"),
            Experiment = One("experiment"),
            Sweeps = values.Where(v => v.Key == "sweep").Select(v => v.Value).ToList(),
            Search = search,
            Study = study,
            Trial = trial,
            Format = format,
            Report = One("report"),
            SortBy = One("sort-by"),
            AllParams = Flag("all-params"),
            Jobs = jobs,
            A = One("a"),
            B = One("b"),
            Verbosity = verbosity,
            Parameters = One("params"),
            Artifacts = One("artifacts"),
            Sets = values.Where(v => v.Key == "set").Select(v => v.Value).ToList(),
            Mirrors = values.Where(v => v.Key == "mirror").Select(v => v.Value).ToList(),
            LockWaitSeconds = lockWait,
            Split = One("split") ?? "train",
            Index = index,
            Images = images,
            Top = top,
            Model = One("model"),
            Serve = serve,
            Port = port,
        };
    }

    static string Suggest(string name)
    {
        var close = Options.Select(o => o.Name).FirstOrDefault(o => name.Length >= 3 && (o.StartsWith(name) || name.StartsWith(o)) || Distance(o, name) <= Math.Min(2, name.Length / 3));
        return close is null ? "" : $" (did you mean --{close}?)";
    }

    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    public static string Help(IEnumerable<(string Name, string Description)> tasks)
    {
        var text = new StringBuilder("""
            Usage: ./build.sh [options]

            Runs the image-classification pipeline as Cake tasks. Each stage writes under artifacts/<stage>/ and is
            skipped when its inputs, parameters and code did not change. Relative paths given to --params,
            --artifacts, --mirror, --images and --model are relative to the working directory.

            Options:

            """);
        foreach (var o in Options)
        {
            string left = o.Value is null ? $"--{o.Name}" : $"--{o.Name}={o.Value}";
            text.AppendLine($"  {left,-28}{o.Help}");
        }
        text.AppendLine().AppendLine("Tasks:");
        foreach (var (name, description) in tasks)
            text.AppendLine($"  {name,-28}{description}");
        return text.ToString();
    }
}

/// <summary>A mistake on the command line; the host prints it and exits with code 2.</summary>
public sealed class UsageException(string message) : Pipeline.PipelineException(message);
