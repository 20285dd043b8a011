namespace Pipeline.Stages;

/// <summary>
/// An exclusive lock on the artifacts folder, so two runs never write the same stages at once. The second run
/// waits (saying who holds the lock) and gives up with a clear error after the wait it was given.
/// </summary>
public sealed class ArtifactsLock : IDisposable
{
    readonly FileStream stream;
    readonly string ownerFile;

    ArtifactsLock(FileStream stream, string ownerFile)
    {
        this.stream = stream;
        this.ownerFile = ownerFile;
    }

    public static ArtifactsLock Acquire(string root, TimeSpan wait, Action<string>? onWaiting = null)
    {
        System.IO.Directory.CreateDirectory(root);
        string path = Path.Combine(root, ".lock"), owner = path + ".owner";
        var deadline = DateTime.UtcNow + wait;
        bool told = false;
        while (true)
        {
            try
            {
                // FileShare.None takes an flock on Unix: released by the kernel even when the holder is killed.
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                File.WriteAllText(owner, $"pid {Environment.ProcessId}, since {DateTimeOffset.UtcNow:u}\n");
                return new ArtifactsLock(stream, owner);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                if (!told)
                {
                    onWaiting?.Invoke($"another run holds {path} ({Holder(owner)}); waiting up to {wait.TotalSeconds:0} s");
                    told = true;
                }
                Thread.Sleep(250);
            }
            catch (IOException e)
            {
                throw new StageException($"another run holds {path} ({Holder(owner)}); gave up after {wait.TotalSeconds:0} s", e);
            }
        }
    }

    static string Holder(string owner)
    {
        try { return File.ReadAllText(owner).Trim(); }
        catch (IOException) { return "holder unknown"; }
    }

    public void Dispose()
    {
        try { File.Delete(ownerFile); } catch (IOException) { }
        stream.Dispose();
    }
}
