namespace DiskImage.OpenStack.Build;

/// <summary>
/// A file written under a hidden temporary name in its final directory and renamed into place only when complete, so
/// a failed, cancelled or killed run never leaves a partial file under the final name. Disposing without
/// <see cref="Commit"/> deletes the temporary file.
/// </summary>
internal sealed class AtomicOutputFile : IDisposable
{
    private const string TempMarker = ".tmp-";
    private bool _committed;

    public AtomicOutputFile(string directory, string fileName)
    {
        FinalPath = Path.Combine(directory, fileName);
        TempPath = Path.Combine(directory, "." + fileName + TempMarker + Guid.NewGuid().ToString("N"));
    }

    /// <summary>The path the file is written to.</summary>
    public string TempPath { get; }

    /// <summary>The path the file gets once committed.</summary>
    public string FinalPath { get; }

    /// <summary>Creates the temporary file for writing.</summary>
    public FileStream Create() => new(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1 << 16);

    /// <summary>Makes the temporary file durable and renames it to its final name (replacing an older file).</summary>
    public void Commit()
    {
        using (var f = new FileStream(TempPath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
        {
            f.Flush(flushToDisk: true);
        }

        File.Move(TempPath, FinalPath, overwrite: true);
        _committed = true;
    }

    /// <summary>
    /// Deletes temporary files a killed run left for <paramref name="fileName"/> in <paramref name="directory"/>: its
    /// <c>.NAME.tmp-ID</c>, and the <c>..NAME.tmp-ID.GUID.tmp</c> a conversion into that name writes first.
    /// </summary>
    public static void DeleteStale(string directory, string fileName)
    {
        foreach (string stale in Directory.EnumerateFiles(directory, "." + fileName + TempMarker + "*"))
        {
            File.Delete(stale);
        }

        foreach (string stale in Directory.EnumerateFiles(directory, ".." + fileName + TempMarker + "*"))
        {
            File.Delete(stale);
        }
    }

    public void Dispose()
    {
        if (!_committed)
        {
            try
            {
                File.Delete(TempPath);
            }
            catch (IOException)
            {
                // Best effort: the next run deletes stale temporary files.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
