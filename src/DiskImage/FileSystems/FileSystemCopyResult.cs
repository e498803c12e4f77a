namespace DiskImage.FileSystems;

/// <summary>What a <see cref="FileSystemCopy"/> call copied and what it left out.</summary>
public sealed class FileSystemCopyResult
{
    private readonly List<string> _skipped = [];

    /// <summary>Entries written (directories, files, links and special files).</summary>
    public int Copied { get; internal set; }

    /// <summary>Entries not copied, each as "path: reason" (sockets; devices without the right to create them).</summary>
    public IReadOnlyList<string> Skipped => _skipped;

    internal void Skip(string path, string reason) => _skipped.Add($"{path}: {reason}");
}
