using System.Buffers;
using DiskImage.FileSystems;
using DiskImage.Interop;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Materializes entries under a host directory with the kernel's semantics (later entries replace
/// earlier ones, hard links per archive, directory times after children), and never writes outside
/// the directory: names with <c>..</c> are refused, no existing symbolic link is ever followed,
/// hard links only target files this extraction created.
/// </summary>
internal sealed class CpioExtractor
{
    private readonly string _root;
    private readonly InitramfsExtractOptions _options;
    private readonly Dictionary<(uint, uint, uint, CpioEntryType), string> _links = [];
    private readonly List<(string Path, uint MTime)> _directoryTimes = [];
    private readonly List<string> _skipped = [];
    private int _archive = -1;

    public CpioExtractor(string root, InitramfsExtractOptions options)
    {
        _root = Path.GetFullPath(root);
        if (!HostTreeWriter.DirectoryExists(_root))
        {
            string? parent = Path.GetDirectoryName(_root);
            if (parent is not null && HostTreeWriter.DirectoryExists(parent))
            {
                HostTreeWriter.EnsureDirectory(_root);
            }
            else
            {
                Directory.CreateDirectory(_root);
            }
        }

        _options = options;
    }

    public int Extracted { get; private set; }

    public IReadOnlyList<string> Skipped => _skipped;

    public void Extract(CpioEntry entry, int archiveNumber)
    {
        if (archiveNumber != _archive)
        {
            _archive = archiveNumber;
            _links.Clear();
        }

        string relative = SafeRelativePath(entry);
        if (relative.Length == 0)
        {
            // "." : the root directory itself.
            if (entry.EntryType == CpioEntryType.Directory)
            {
                ApplyMetadata(_root, entry, isDirectory: true);
            }

            return;
        }

        string target = Path.Combine(_root, relative.Replace('/', Path.DirectorySeparatorChar));
        EnsureParentIsReal(target, entry);
        switch (entry.EntryType)
        {
            case CpioEntryType.Directory:
                HostTreeWriter.EnsureDirectory(target);
                ApplyMetadata(target, entry, isDirectory: true);
                break;
            case CpioEntryType.RegularFile:
                WriteFile(target, entry);
                ApplyMetadata(target, entry, isDirectory: false);
                break;
            case CpioEntryType.SymbolicLink:
                RemoveExisting(target);
                HostTreeWriter.CreateSymbolicLink(target, entry.LinkName!);
                if (_options.PreserveOwnership)
                {
                    UnixNative.TryLChown(target, entry.Uid, entry.Gid);
                }

                break;
            default:
                if (!_options.CreateSpecialFiles)
                {
                    _skipped.Add($"{relative}: special files not requested");
                    return;
                }

                RemoveExisting(target);
                if (!UnixNative.TryMknod(target, (uint)entry.EntryType | ((uint)entry.Mode & 0xFFF), entry.RDevMajor, entry.RDevMinor))
                {
                    _skipped.Add($"{relative}: mknod not permitted");
                    return;
                }

                ApplyMetadata(target, entry, isDirectory: false);
                break;
        }

        Extracted++;
    }

    public void Finish()
    {
        if (!_options.PreserveModificationTimes)
        {
            return;
        }

        for (int i = _directoryTimes.Count - 1; i >= 0; i--)
        {
            (string path, uint mtime) = _directoryTimes[i];
            if (HostTreeWriter.GetKind(path) == HostTreeWriter.Kind.Directory)
            {
                HostTreeWriter.SetModificationTime(path, mtime);
            }
        }
    }

    internal static string SafeRelativePath(CpioEntry entry)
    {
        var parts = new List<string>();
        foreach (string part in entry.Name.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == ".." || part.Contains('\\', StringComparison.Ordinal) && OperatingSystem.IsWindows())
            {
                FormatError.Throw("cpio entry", entry.HeaderOffset, $"name '{entry.Name}' would escape the destination directory");
            }

            parts.Add(part);
        }

        return string.Join('/', parts);
    }

    private void EnsureParentIsReal(string target, CpioEntry entry)
    {
        // Every existing component between the root and the target must be a real directory:
        // a symbolic link there (from this archive or pre-existing) could point anywhere.
        string? dir = Path.GetDirectoryName(target);
        var chain = new Stack<string>();
        while (dir is not null && dir.Length > _root.Length)
        {
            chain.Push(dir);
            dir = Path.GetDirectoryName(dir);
        }

        foreach (string component in chain)
        {
            switch (HostTreeWriter.GetKind(component))
            {
                case HostTreeWriter.Kind.SymbolicLink:
                    FormatError.Throw("cpio entry", entry.HeaderOffset, $"'{entry.Name}' lies beneath a symbolic link; refusing to follow it out of the destination");
                    break;
                case HostTreeWriter.Kind.Other:
                    FormatError.Throw("cpio entry", entry.HeaderOffset, $"'{entry.Name}' lies beneath a non-directory");
                    break;
                case HostTreeWriter.Kind.None:
                    // The kernel does not create missing parents; creating them is harmless and friendlier.
                    HostTreeWriter.EnsureDirectory(component);
                    break;
            }
        }
    }

    // A directory is removed only if empty, like the kernel's clean_path.
    private static void RemoveExisting(string target) => HostTreeWriter.RemoveExisting(target);

    private void WriteFile(string target, CpioEntry entry)
    {
        bool linked = false;
        if (entry.IsHardLinkMember)
        {
            var key = (entry.DevMajor, entry.DevMinor, entry.Inode, entry.EntryType);
            if (_links.TryGetValue(key, out string? first))
            {
                if (HostTreeWriter.GetKind(first) == HostTreeWriter.Kind.Other && first != target)
                {
                    RemoveExisting(target);
                    linked = UnixNative.TryLink(first, target);
                    if (!linked)
                    {
                        using (FileStream input = HostTreeWriter.OpenRead(first))
                        using (FileStream copy = HostTreeWriter.CreateFile(target))
                        {
                            input.CopyTo(copy);
                        }

                        linked = true;
                    }
                }
            }
            else
            {
                _links[key] = target;
            }
        }

        if (!linked)
        {
            RemoveExisting(target);
        }
        else if (entry.Length == 0)
        {
            return;
        }

        // A fresh file (or the hard link just made to one): never a symbolic link here.
        if (HostTreeWriter.GetKind(target) == HostTreeWriter.Kind.SymbolicLink)
        {
            FormatError.Throw("cpio entry", entry.HeaderOffset, $"'{entry.Name}' is a symbolic link; refusing to write through it");
        }

        using FileStream output = linked ? HostTreeWriter.OpenWrite(target) : HostTreeWriter.CreateFile(target);
        if (entry.DataStream is { } data)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
            try
            {
                int n;
                while ((n = data.Read(buffer, 0, buffer.Length)) > 0)
                {
                    output.Write(buffer, 0, n);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        if (linked)
        {
            output.SetLength(output.Position);
        }
    }

    private void ApplyMetadata(string path, CpioEntry entry, bool isDirectory)
    {
        // chown before chmod: changing the owner clears set-user/group-id bits.
        if (_options.PreserveOwnership)
        {
            UnixNative.TryLChown(path, entry.Uid, entry.Gid);
        }

        HostTreeWriter.SetMode(path, (int)entry.Mode & 0xFFF);

        if (!_options.PreserveModificationTimes)
        {
            return;
        }

        if (isDirectory)
        {
            _directoryTimes.Add((path, entry.ModificationTimeSeconds));
        }
        else
        {
            HostTreeWriter.SetModificationTime(path, entry.ModificationTimeSeconds);
        }
    }
}
