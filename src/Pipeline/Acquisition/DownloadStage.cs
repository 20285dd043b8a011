using Pipeline.Stages;

namespace Pipeline.Acquisition;

/// <summary>
/// Download: the dataset's pinned files from the first mirror that has a good copy, and its definition. For a folder
/// dataset, a local folder is listed, not copied (every file's path, size and SHA-256, <see cref="FolderListing"/>), and
/// an archive is fetched like any pinned file and extracted; the definition is recorded with its classes and split mode
/// resolved from the folder.
/// </summary>
public sealed class DownloadStage : Stage<DownloadStage>
{
    public override string Name => "download";
    public override string Description => "Fetch the dataset's files from the first mirror that has a good copy (--mirror first).";
    public override IReadOnlyList<Stage> Upstream => [];
    // Only the pinned files shape the output (Pins): mirrors, retries and timeouts do not rerun the stage.
    public override IReadOnlyList<string> Shapes => [];
    public static DatasetDefinition Dataset(StageContext context) =>
        DatasetDefinition.Load(context.Section<DownloadParameters>().Dataset, Path.Combine(context.Root, "datasets"));

    public override object? Pins(StageContext context)
    {
        var dataset = Dataset(context);
        if (!dataset.IsFolder)
            return new { dataset.Name, dataset.Files };
        // The definition shapes the output, not where it is served from; a local folder by its content, listed with a
        // hash only for files whose size or time differ from the last listing (a rerun with nothing changed reads none).
        var shaping = dataset with { Mirrors = [], Archive = dataset.Archive is { } archive ? archive with { Url = archive.FileName } : null };
        if (dataset.Path is null)
            return new { Definition = shaping };
        var listing = FolderListing.Scan(dataset.Path, dataset.Path, () => FolderListing.Read(context.OutputOf(Instance)), DefinitionName(context));
        return new { Definition = shaping, Files = listing.Files.Count, Content = listing.ContentHash() };
    }

    static string DefinitionName(StageContext context) => context.Section<DownloadParameters>().Dataset;

    public override async Task ProduceAsync(StageContext context, StageWorkspace workspace)
    {
        var dataset = Dataset(context);
        if (dataset.IsFolder)
        {
            await ProduceFolderAsync(context, workspace, dataset);
            return;
        }
        await FetchAsync(context, workspace, dataset, dataset.Files, dataset.Mirrors);
        CanonicalJson.WriteFile(workspace.PathOf(DatasetDefinition.FileName), dataset);
        workspace.Metrics["files"] = dataset.Files.Count;
        workspace.Metrics["bytes"] = dataset.Files.Keys.Sum(name => new FileInfo(workspace.PathOf(name)).Length);
    }

    static async Task FetchAsync(StageContext context, StageWorkspace workspace, DatasetDefinition dataset,
        IReadOnlyDictionary<string, PinnedFile> files, IEnumerable<string> ownMirrors)
    {
        var mirrors = context.Mirrors
            .Concat(Environment.GetEnvironmentVariable(dataset.MirrorVariable) is { Length: > 0 } env ? [Downloader.ResolveMirror(env)] : [])
            .Concat(ownMirrors)
            .ToList();
        using var downloader = new Downloader(context.Section<DownloadParameters>().Options, context.Log);
        try
        {
            await downloader.FetchAllAsync(files, mirrors, workspace.Directory, workspace.Salvage, context.Cancellation);
        }
        catch (DownloadException e)
        {
            throw new DownloadException($"{e.Message}\nTo run from local copies of the files: ./build.sh --mirror=FOLDER (or {dataset.MirrorVariable}=FOLDER).");
        }
    }

    static string[] Visible(string[] paths) => [.. paths.Where(p => FolderListing.Visible(Path.GetFileName(p)))];

    /// <summary>Folder of the extracted archive, inside Download's folder.</summary>
    const string Extracted = "files";

    static async Task ProduceFolderAsync(StageContext context, StageWorkspace workspace, DatasetDefinition dataset)
    {
        string source = DefinitionName(context);
        FolderListing listing;
        if (dataset.Archive is { } archive)
        {
            await FetchAsync(context, workspace, dataset, new Dictionary<string, PinnedFile> { [archive.FileName] = archive.Pin },
                [.. dataset.Mirrors, .. archive.Folder.Length > 0 ? [archive.Folder] : Array.Empty<string>()]);
            int count = ArchiveExtractor.Extract(workspace.PathOf(archive.FileName), workspace.PathOf(Extracted), context.Cancellation);
            context.Log.Information("{Archive}: {Files:N0} files extracted", archive.FileName, count);
            // An archive of one folder (clothes.zip holding clothes/…) has that folder as the dataset's root.
            string root = Extracted;
            while (Visible(Directory.GetFiles(workspace.PathOf(root))).Length == 0 && Visible(Directory.GetDirectories(workspace.PathOf(root))) is [var only])
                root = Path.GetRelativePath(workspace.Directory, only).Replace(Path.DirectorySeparatorChar, '/');
            listing = FolderListing.Scan(workspace.PathOf(root), root, () => null, archive.FileName);
        }
        else
            listing = FolderListing.Scan(dataset.Path!, dataset.Path!, () => FolderListing.Read(context.OutputOf(Instance)), source);
        string absolute = listing.RootIn(workspace.Directory);
        var layout = FolderLayout.Resolve(dataset, absolute, listing, source);
        listing.Write(workspace.Directory);
        CanonicalJson.WriteFile(workspace.PathOf(DatasetDefinition.FileName), dataset with { Classes = layout.Classes, SplitBy = layout.SplitBy });
        context.Log.Information("{Root}: {Files:N0} files, {Classes} classes ({Names}), splits by {SplitBy}", absolute, listing.Files.Count,
            layout.Classes.Count, string.Join(", ", layout.Classes), layout.SplitBy);
        workspace.Metrics["files"] = listing.Files.Count;
        workspace.Metrics["bytes"] = listing.Files.Sum(f => f.Size);
    }

    /// <summary>The definition as Download recorded it with its files.</summary>
    public static DatasetDefinition Recorded(StageContext context) =>
        System.Text.Json.JsonSerializer.Deserialize<DatasetDefinition>(
            File.ReadAllText(Path.Combine(context.OutputOf(Instance), DatasetDefinition.FileName)), CanonicalJson.Options)!;
}
