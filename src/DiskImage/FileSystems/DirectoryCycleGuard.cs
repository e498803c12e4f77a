namespace DiskImage.FileSystems;

/// <summary>
/// Detects directory cycles by inode identity during a tree walk, without any depth limit: a directory
/// whose inode is already on the current path is a cycle (possible only in a corrupt file system), and
/// one met twice elsewhere is a hard-linked directory; both would make a walk repeat itself, so both are
/// <see cref="InvalidDataException"/>. Walkers using it keep their own stack, so depth costs heap, not
/// call stack.
/// </summary>
internal sealed class DirectoryCycleGuard
{
    private readonly HashSet<long> _seen = [];
    private readonly Dictionary<long, string> _onPath = [];

    /// <summary>Records entering <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidDataException">The directory was met before: a cycle or a hard-linked directory.</exception>
    public void Enter(UnixFileInfo directory)
    {
        if (_onPath.TryGetValue(directory.Inode, out string? ancestor))
        {
            throw new InvalidDataException($"Directory cycle: '{directory.Path}' is its own ancestor '{ancestor}' (inode {directory.Inode}); the file system is corrupt.");
        }

        if (!_seen.Add(directory.Inode))
        {
            throw new InvalidDataException($"The directory '{directory.Path}' (inode {directory.Inode}) appears twice in the tree (a hard-linked directory); the file system is corrupt.");
        }

        _onPath[directory.Inode] = directory.Path;
    }

    /// <summary>Records leaving <paramref name="directory"/> (its subtree is done).</summary>
    public void Leave(UnixFileInfo directory) => _onPath.Remove(directory.Inode);
}
