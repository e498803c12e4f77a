using System.Buffers;

namespace DiskImage.FileSystems;

/// <summary>
/// Copies trees out of an <see cref="IFileSystem"/> to a host directory, and between file systems:
/// files, directories, symbolic links, hard links within the copied set, device nodes, FIFOs,
/// permission bits, owners and nanosecond times (the semantics of <c>virt-copy-out</c> and
/// <c>virt-copy-in</c>).
/// </summary>
/// <remarks>
/// <para>A directory is copied recursively as a new entry named like it inside the destination
/// directory; the root directory ("/") copies its contents into the destination directory itself.
/// An existing directory in the destination is merged into; any other existing entry with the name
/// of a copied one is replaced (a non-empty directory in the way is an <see cref="IOException"/>).</para>
/// <para>Writing to the host never leaves the destination directory: a name that is empty, ".", ".."
/// or contains '/' or NUL is refused with <see cref="InvalidDataException"/>, no symbolic link that
/// exists under the destination is ever followed (it is replaced), and new files are created
/// exclusively. A directory that appears twice in the source (a hard-linked directory or a cycle
/// in a corrupt file system, detected by inode identity) is an <see cref="InvalidDataException"/>;
/// trees of any depth are copied (the walk keeps its own stack).</para>
/// <para>Cancellation is checked before each entry and between chunks of file data. A cancelled copy
/// to the host removes the entries it created (an entry it replaced is not restored); a cancelled copy
/// between file systems removes the file whose data it was writing, leaves the entries already copied
/// complete, and flushes the destination, so it stays consistent.</para>
/// </remarks>
public static class FileSystemCopy
{
    private const int BufferSize = 256 * 1024;

    /// <summary>Copies the entry at <paramref name="sourcePath"/> (recursively for a directory) into the host directory <paramref name="hostDirectory"/>.</summary>
    /// <param name="source">The file system to read.</param>
    /// <param name="sourcePath">The entry to copy; a final symbolic link is copied as a link.</param>
    /// <param name="hostDirectory">An existing host directory receiving the copy.</param>
    /// <param name="options">What to preserve; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the copy before the next entry or chunk.</param>
    /// <returns>The number of entries written and those skipped.</returns>
    /// <exception cref="DirectoryNotFoundException"><paramref name="hostDirectory"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">The source holds a name that cannot be written safely, or a directory cycle.</exception>
    /// <exception cref="OperationCanceledException">The copy was cancelled; what it created was removed.</exception>
    public static FileSystemCopyResult CopyToHost(IFileSystem source, string sourcePath, string hostDirectory, FileSystemCopyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        return CopyToHost(source, [sourcePath], hostDirectory, options, cancellationToken);
    }

    /// <summary>
    /// Copies several entries into the host directory <paramref name="hostDirectory"/> as one copy: hard links
    /// between files of different entries are kept.
    /// </summary>
    /// <param name="source">The file system to read.</param>
    /// <param name="sourcePaths">The entries to copy, in order.</param>
    /// <param name="hostDirectory">An existing host directory receiving the copies.</param>
    /// <param name="options">What to preserve; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the copy before the next entry or chunk.</param>
    /// <returns>The number of entries written and those skipped.</returns>
    /// <exception cref="DirectoryNotFoundException"><paramref name="hostDirectory"/> does not exist.</exception>
    /// <exception cref="InvalidDataException">The source holds a name that cannot be written safely, or a directory cycle.</exception>
    /// <exception cref="OperationCanceledException">The copy was cancelled; what it created was removed.</exception>
    public static FileSystemCopyResult CopyToHost(IFileSystem source, IReadOnlyList<string> sourcePaths, string hostDirectory, FileSystemCopyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sourcePaths);
        ArgumentException.ThrowIfNullOrEmpty(hostDirectory);
        string root = Path.GetFullPath(hostDirectory);
        if (!HostTreeWriter.DirectoryExists(root))
        {
            throw new DirectoryNotFoundException($"The directory '{hostDirectory}' does not exist.");
        }

        var copier = new HostCopier(source, options ?? new FileSystemCopyOptions(), cancellationToken);
        try
        {
            foreach (string sourcePath in sourcePaths)
            {
                UnixFileInfo entry = source.GetEntry(sourcePath);
                if (entry.Path == "/")
                {
                    copier.CopyChildren(entry, root);
                }
                else
                {
                    copier.CopyEntry(entry, Path.Combine(root, CheckedName(entry.Name, entry.Path)));
                }
            }
        }
        catch (OperationCanceledException)
        {
            copier.RemoveCreated();
            throw;
        }

        return copier.Result;
    }

    /// <summary>Copies the entry at <paramref name="sourcePath"/> (recursively for a directory) into <paramref name="destinationDirectory"/> of another file system.</summary>
    /// <param name="source">The file system to read.</param>
    /// <param name="sourcePath">The entry to copy; a final symbolic link is copied as a link.</param>
    /// <param name="destination">The file system to write.</param>
    /// <param name="destinationDirectory">An existing directory of <paramref name="destination"/>.</param>
    /// <param name="options">What to preserve; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the copy before the next entry or chunk.</param>
    /// <returns>The number of entries written and those skipped.</returns>
    /// <exception cref="IOException"><paramref name="destinationDirectory"/> is not a directory.</exception>
    /// <exception cref="InvalidDataException">The source holds an invalid name or a directory cycle.</exception>
    /// <exception cref="OperationCanceledException">The copy was cancelled between entries (the destination is flushed and consistent).</exception>
    public static FileSystemCopyResult Copy(IFileSystem source, string sourcePath, IFileSystem destination, string destinationDirectory, FileSystemCopyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        return Copy(source, [sourcePath], destination, destinationDirectory, options, cancellationToken);
    }

    /// <summary>
    /// Copies several entries into <paramref name="destinationDirectory"/> of another file system as one copy:
    /// hard links between files of different entries are kept.
    /// </summary>
    /// <param name="source">The file system to read.</param>
    /// <param name="sourcePaths">The entries to copy, in order.</param>
    /// <param name="destination">The file system to write.</param>
    /// <param name="destinationDirectory">An existing directory of <paramref name="destination"/>.</param>
    /// <param name="options">What to preserve; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the copy before the next entry or chunk.</param>
    /// <returns>The number of entries written and those skipped.</returns>
    /// <exception cref="IOException"><paramref name="destinationDirectory"/> is not a directory.</exception>
    /// <exception cref="InvalidDataException">The source holds an invalid name or a directory cycle.</exception>
    /// <exception cref="OperationCanceledException">The copy was cancelled between entries (the destination is flushed and consistent).</exception>
    public static FileSystemCopyResult Copy(IFileSystem source, IReadOnlyList<string> sourcePaths, IFileSystem destination, string destinationDirectory, FileSystemCopyOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(sourcePaths);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(destinationDirectory);
        if (ReferenceEquals(source, destination))
        {
            throw new ArgumentException("Source and destination must be different file systems.", nameof(destination));
        }

        UnixFileInfo target = destination.GetEntry(destinationDirectory);
        if (target.Type == UnixFileType.SymbolicLink)
        {
            // Intermediate links resolve inside the file system; resolve a final one the same way.
            target = destination.GetEntry(FileSystemPath.Combine(target.Path, "."));
        }

        if (target.Type != UnixFileType.Directory)
        {
            throw new IOException($"'{destinationDirectory}' is not a directory.");
        }

        var copier = new FileSystemCopier(source, destination, options ?? new FileSystemCopyOptions(), cancellationToken);
        try
        {
            foreach (string sourcePath in sourcePaths)
            {
                UnixFileInfo entry = source.GetEntry(sourcePath);
                if (entry.Path == "/")
                {
                    copier.CopyChildren(entry, target.Path);
                }
                else
                {
                    copier.CopyEntry(entry, FileSystemPath.Combine(target.Path, CheckedName(entry.Name, entry.Path)));
                }
            }
        }
        finally
        {
            destination.Flush();
        }

        return copier.Result;
    }

    private static string CheckedName(string name, string path)
    {
        if (name.Length == 0 || name is "." or ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal) ||
            (OperatingSystem.IsWindows() && name.Contains('\\', StringComparison.Ordinal)))
        {
            throw new InvalidDataException($"The entry '{path}' has a name that cannot be copied safely.");
        }

        return name;
    }

    private static List<UnixFileInfo> SortedChildren(IFileSystem fs, UnixFileInfo directory)
    {
        var children = new List<UnixFileInfo>(fs.EnumerateDirectory(directory.Path));
        foreach (UnixFileInfo child in children)
        {
            // A name holding '/' (possible only in a corrupt file system) would make the child's path point elsewhere.
            int slash = child.Path.LastIndexOf('/');
            string parent = slash <= 0 ? "/" : child.Path[..slash];
            if (parent != directory.Path || child.Name is "" or "." or "..")
            {
                throw new InvalidDataException($"The directory '{directory.Path}' holds an entry whose name cannot be copied safely ('{child.Path}').");
            }
        }

        children.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return children;
    }

    /// <summary>
    /// Walks the tree below <paramref name="top"/> depth-first with its own stack (no depth limit, no
    /// recursion): <paramref name="begin"/> makes a subdirectory's target before its children,
    /// <paramref name="leaf"/> copies anything else, <paramref name="end"/> finishes a directory after its
    /// children (also <paramref name="top"/> when <paramref name="topIsEntry"/>).
    /// </summary>
    private static void Walk(
        IFileSystem source,
        DirectoryCycleGuard guard,
        UnixFileInfo top,
        string topTarget,
        bool topIsEntry,
        Func<string, string, string> combine,
        Action<UnixFileInfo, string> begin,
        Action<UnixFileInfo, string> leaf,
        Action<UnixFileInfo, string> end)
    {
        var stack = new Stack<(UnixFileInfo Directory, string Target, List<UnixFileInfo> Children, int Next, bool IsEntry)>();
        guard.Enter(top);
        if (topIsEntry)
        {
            begin(top, topTarget);
        }

        stack.Push((top, topTarget, SortedChildren(source, top), 0, topIsEntry));
        while (stack.Count > 0)
        {
            (UnixFileInfo directory, string target, List<UnixFileInfo> children, int next, bool isEntry) = stack.Pop();
            if (next == children.Count)
            {
                guard.Leave(directory);
                if (isEntry)
                {
                    end(directory, target);
                }

                continue;
            }

            stack.Push((directory, target, children, next + 1, isEntry));
            UnixFileInfo child = children[next];
            string childTarget = combine(target, CheckedName(child.Name, child.Path));
            if (child.Type == UnixFileType.Directory)
            {
                guard.Enter(child);
                begin(child, childTarget);
                stack.Push((child, childTarget, SortedChildren(source, child), 0, true));
            }
            else
            {
                leaf(child, childTarget);
            }
        }
    }

    /// <summary>Copies stream content, leaving holes where whole buffers read as zeros.</summary>
    private static void CopyContent(Stream input, Stream output, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            bool holeAtEnd = false;
            int n;
            var sparse = input as ISparseReadStream;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (sparse is not null)
                {
                    // Skip a hole in one step: a file may be terabytes long and hold a few blocks.
                    long at = input.Position;
                    long data = sparse.NextDataOffset(at);
                    if (data > at)
                    {
                        output.Seek(data - at, SeekOrigin.Current);
                        input.Position = data;
                        holeAtEnd = true;
                    }
                }

                n = input.ReadAtLeast(buffer.AsSpan(0, BufferSize), BufferSize, throwOnEndOfStream: false);
                if (n == 0)
                {
                    break;
                }

                if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
                {
                    output.Write(buffer, 0, n);
                    holeAtEnd = false;
                }
                else
                {
                    output.Seek(n, SeekOrigin.Current);
                    holeAtEnd = true;
                }
            }

            if (holeAtEnd)
            {
                output.SetLength(output.Position);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One copy to the host.</summary>
    private sealed class HostCopier(IFileSystem source, FileSystemCopyOptions options, CancellationToken cancellationToken)
    {
        private readonly Dictionary<long, string> _links = [];
        private readonly List<string> _created = [];
        private readonly DirectoryCycleGuard _directories = new();
        private readonly bool _chown = options.PreserveOwnership && Environment.IsPrivilegedProcess;

        public FileSystemCopyResult Result { get; } = new();

        public void CopyChildren(UnixFileInfo directory, string hostDirectory) => CopyTree(directory, hostDirectory, topIsEntry: false);

        /// <summary>Removes what this copy created, newest first (children before their directories).</summary>
        public void RemoveCreated()
        {
            for (int i = _created.Count - 1; i >= 0; i--)
            {
                try
                {
                    if (HostTreeWriter.GetKind(_created[i]) == HostTreeWriter.Kind.Directory)
                    {
                        Directory.Delete(_created[i]);
                    }
                    else
                    {
                        File.Delete(_created[i]);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Best effort: a directory that also holds entries not created here stays.
                }
            }
        }

        public void CopyEntry(UnixFileInfo entry, string target)
        {
            if (entry.Type == UnixFileType.Directory)
            {
                CopyTree(entry, target, topIsEntry: true);
            }
            else
            {
                CopyLeaf(entry, target);
            }
        }

        private void CopyTree(UnixFileInfo directory, string target, bool topIsEntry) =>
            Walk(
                source,
                _directories,
                directory,
                target,
                topIsEntry,
                Path.Combine,
                BeginDirectory,
                CopyLeaf,
                (d, t) =>
                {
                    ApplyMetadata(d, t);
                    Result.Copied++;
                });

        private void BeginDirectory(UnixFileInfo entry, string target)
        {
            Track(target);
            HostTreeWriter.EnsureDirectory(target);
        }

        /// <summary>Checks for cancellation and remembers <paramref name="target"/> when this copy is about to create it.</summary>
        private void Track(string target)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (HostTreeWriter.GetKind(target) == HostTreeWriter.Kind.None)
            {
                _created.Add(target);
            }
        }

        private void CopyLeaf(UnixFileInfo entry, string target)
        {
            Track(target);
            switch (entry.Type)
            {
                case UnixFileType.RegularFile:
                    if (!LinkToEarlierCopy(entry, target))
                    {
                        HostTreeWriter.RemoveExisting(target);
                        using (Stream input = source.OpenFile(entry.Path, FileMode.Open, FileAccess.Read))
                        using (FileStream output = HostTreeWriter.CreateFile(target))
                        {
                            CopyContent(input, output, cancellationToken);
                        }

                        ApplyMetadata(entry, target);
                    }

                    break;
                case UnixFileType.SymbolicLink:
                    HostTreeWriter.RemoveExisting(target);
                    HostTreeWriter.CreateSymbolicLink(target, entry.LinkTarget ?? string.Empty);
                    if (_chown)
                    {
                        HostTreeWriter.TrySetOwner(target, entry.UserId, entry.GroupId);
                    }

                    HostTreeWriter.SetTimes(target, entry.AccessTime, entry.ModificationTime, isSymbolicLink: true);
                    break;
                case UnixFileType.Socket:
                    Result.Skip(entry.Path, "socket ignored");
                    return;
                default:
                    if (entry.Type != UnixFileType.Fifo && !options.CreateDevices)
                    {
                        Result.Skip(entry.Path, "device nodes not requested");
                        return;
                    }

                    if (LinkToEarlierCopy(entry, target))
                    {
                        break;
                    }

                    HostTreeWriter.RemoveExisting(target);
                    if (!HostTreeWriter.TryCreateNode(target, entry.Type, (int)entry.Mode, entry.DeviceMajor, entry.DeviceMinor))
                    {
                        Result.Skip(entry.Path, "cannot create the node (needs root)");
                        return;
                    }

                    ApplyMetadata(entry, target);
                    break;
            }

            Result.Copied++;
        }

        private bool LinkToEarlierCopy(UnixFileInfo entry, string target)
        {
            if (entry.LinkCount < 2)
            {
                return false;
            }

            if (!_links.TryGetValue(entry.Inode, out string? first))
            {
                _links[entry.Inode] = target;
                return false;
            }

            HostTreeWriter.RemoveExisting(target);
            return HostTreeWriter.TryLink(first, target) || CopyFirst(first, target);
        }

        private static bool CopyFirst(string first, string target)
        {
            // The host refused the link (e.g. a file system without hard links): a copy keeps the content.
            if (HostTreeWriter.GetKind(first) != HostTreeWriter.Kind.Other)
            {
                return false;
            }

            using (FileStream input = HostTreeWriter.OpenRead(first))
            using (FileStream output = HostTreeWriter.CreateFile(target))
            {
                input.CopyTo(output);
            }

            return true;
        }

        private void ApplyMetadata(UnixFileInfo entry, string target)
        {
            // chown before chmod: changing the owner clears the set-user/group-id bits.
            if (_chown)
            {
                HostTreeWriter.TrySetOwner(target, entry.UserId, entry.GroupId);
            }

            HostTreeWriter.SetMode(target, (int)entry.Mode);

            HostTreeWriter.SetTimes(target, entry.AccessTime, entry.ModificationTime, isSymbolicLink: false);
        }
    }

    /// <summary>One copy between file systems.</summary>
    private sealed class FileSystemCopier(IFileSystem source, IFileSystem destination, FileSystemCopyOptions options, CancellationToken cancellationToken)
    {
        private readonly Dictionary<long, string> _links = [];
        private readonly DirectoryCycleGuard _directories = new();

        public FileSystemCopyResult Result { get; } = new();

        public void CopyChildren(UnixFileInfo directory, string targetDirectory) => CopyTree(directory, targetDirectory, topIsEntry: false);

        public void CopyEntry(UnixFileInfo entry, string target)
        {
            if (entry.Type == UnixFileType.Directory)
            {
                CopyTree(entry, target, topIsEntry: true);
            }
            else
            {
                CopyLeaf(entry, target);
            }
        }

        private void CopyTree(UnixFileInfo directory, string target, bool topIsEntry) =>
            Walk(
                source,
                _directories,
                directory,
                target,
                topIsEntry,
                FileSystemPath.Combine,
                BeginDirectory,
                CopyLeaf,
                (d, t) =>
                {
                    ApplyMetadata(d, t);
                    Result.Copied++;
                });

        private void BeginDirectory(UnixFileInfo entry, string target)
        {
            cancellationToken.ThrowIfCancellationRequested();
            UnixFileInfo? existing = destination.Exists(target) ? destination.GetEntry(target) : null;
            if (existing is { Type: not UnixFileType.Directory })
            {
                destination.Delete(target);
                existing = null;
            }

            if (existing is null)
            {
                destination.CreateDirectory(target, entry.Mode);
            }
        }

        private void CopyLeaf(UnixFileInfo entry, string target)
        {
            cancellationToken.ThrowIfCancellationRequested();
            UnixFileInfo? existing = destination.Exists(target) ? destination.GetEntry(target) : null;
            if (existing is not null)
            {
                destination.Delete(target);
            }

            if (entry.LinkCount > 1)
            {
                if (_links.TryGetValue(entry.Inode, out string? first))
                {
                    destination.CreateHardLink(target, first);
                    Result.Copied++;
                    return;
                }

                _links[entry.Inode] = target;
            }

            switch (entry.Type)
            {
                case UnixFileType.RegularFile:
                    try
                    {
                        using Stream input = source.OpenFile(entry.Path, FileMode.Open, FileAccess.Read);
                        using Stream output = destination.OpenFile(target, FileMode.CreateNew, FileAccess.Write);
                        CopyContent(input, output, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        // Cancelled mid-file: the partial file goes, so only whole entries are left.
                        _links.Remove(entry.Inode);
                        destination.Delete(target);
                        throw;
                    }

                    break;
                case UnixFileType.SymbolicLink:
                    destination.CreateSymbolicLink(target, entry.LinkTarget ?? string.Empty);
                    break;
                case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                    if (!options.CreateDevices)
                    {
                        _links.Remove(entry.Inode);
                        Result.Skip(entry.Path, "device nodes not requested");
                        return;
                    }

                    destination.CreateDevice(target, entry.Type, entry.DeviceMajor, entry.DeviceMinor, entry.Mode);
                    break;
                case UnixFileType.Fifo:
                    destination.CreateFifo(target, entry.Mode);
                    break;
                case UnixFileType.Socket:
                    destination.CreateSocket(target, entry.Mode);
                    break;
            }

            ApplyMetadata(entry, target);
            Result.Copied++;
        }

        private void ApplyMetadata(UnixFileInfo entry, string target)
        {
            if (options.PreserveOwnership)
            {
                destination.SetOwner(target, entry.UserId, entry.GroupId);
            }

            if (entry.Type != UnixFileType.SymbolicLink)
            {
                destination.SetMode(target, entry.Mode);
            }

            if (options.CopyXattrs)
            {
                foreach (KeyValuePair<string, byte[]> xattr in source.GetXattrs(entry.Path))
                {
                    destination.SetXattr(target, xattr.Key, xattr.Value);
                }
            }

            destination.SetTimes(target, entry.AccessTime, entry.ModificationTime);
        }
    }
}
