namespace DiskImage.OpenStack.Build;

/// <summary>
/// A scratch directory <c>PREFIX&lt;random&gt;</c> under a parent (the system's temporary directory by default),
/// holding an exclusively opened <c>.lock</c> file while in use and deleted on dispose. A killed process cannot
/// delete its directory, but its lock goes with it: <see cref="Create"/> first deletes every directory of the same
/// prefix whose lock nobody holds, so the next run cleans what a killed one left.
/// </summary>
internal sealed class ScratchDirectory : IDisposable
{
    private const string LockName = ".lock";
    private readonly FileStream _lock;

    private ScratchDirectory(string path, FileStream lockFile)
    {
        Path = path;
        _lock = lockFile;
    }

    /// <summary>The directory's full path.</summary>
    public string Path { get; }

    /// <summary>Deletes stale directories of <paramref name="prefix"/> under <paramref name="parent"/>, then creates a new one.</summary>
    public static ScratchDirectory Create(string? parent, string prefix)
    {
        string root = System.IO.Path.GetFullPath(parent ?? System.IO.Path.GetTempPath());
        Directory.CreateDirectory(root);
        DeleteStale(root, prefix);
        string path = System.IO.Path.Combine(root, prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        var lockFile = new FileStream(System.IO.Path.Combine(path, LockName), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        return new ScratchDirectory(path, lockFile);
    }

    /// <summary>Deletes the directories of <paramref name="prefix"/> under <paramref name="root"/> that no live process holds.</summary>
    internal static void DeleteStale(string root, string prefix)
    {
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateDirectories(root, prefix + "*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (string dir in candidates)
        {
            string lockPath = System.IO.Path.Combine(dir, LockName);
            try
            {
                if (!File.Exists(lockPath))
                {
                    // Being created right now, or not ours: only a directory with a free lock is known to be stale.
                    continue;
                }

                using (new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    foreach (string entry in Directory.EnumerateFileSystemEntries(dir))
                    {
                        if (!entry.EndsWith(LockName, StringComparison.Ordinal))
                        {
                            if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                            {
                                Directory.Delete(entry, recursive: true);
                            }
                            else
                            {
                                File.Delete(entry);
                            }
                        }
                    }
                }

                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Held by a live run (or not ours to delete): leave it.
            }
        }
    }

    public void Dispose()
    {
        _lock.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the next run deletes it as stale.
        }
    }
}
