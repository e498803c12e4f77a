using DiskImage.Interop;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Offers a host directory tree (not following symbolic links) to <see cref="CpioArchiveBuilder"/>,
/// with owners, modes, device numbers and hard links as the host reports them on Linux.
/// </summary>
public sealed class HostDirectoryTreeSource : ICpioTreeSource
{
    private readonly string _root;

    /// <summary>Creates a source for the tree under <paramref name="rootDirectory"/>.</summary>
    public HostDirectoryTreeSource(string rootDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        _root = System.IO.Path.GetFullPath(rootDirectory);
        if (!DiskImage.FileSystems.HostTreeWriter.DirectoryExists(_root))
        {
            throw new DirectoryNotFoundException($"Directory '{rootDirectory}' does not exist.");
        }
    }

    /// <inheritdoc />
    public IEnumerable<CpioTreeItem> EnumerateItems()
    {
        // The root itself first (written as "."): its mode, owner and time are the root's of the unpacked tree.
        CpioTreeItem root = Describe(_root, ".");
        if (root.EntryType == CpioEntryType.Directory)
        {
            yield return root;
        }

        var pending = new Stack<(string Host, string Relative)>();
        pending.Push((_root, string.Empty));
        while (pending.Count > 0)
        {
            (string dir, string rel) = pending.Pop();
            foreach (string name in ListDirectory(dir))
            {
                string host = dir.EndsWith('/') ? dir + name : dir + "/" + name;
                string path = rel.Length == 0 ? name : rel + "/" + name;
                CpioTreeItem item = Describe(host, path);
                if (item.EntryType == CpioEntryType.Directory)
                {
                    pending.Push((host, path));
                }

                yield return item;
            }
        }
    }

    private static IEnumerable<string> ListDirectory(string directory)
    {
        if (!UnixNative.IsSupported)
        {
            foreach (string host in Directory.EnumerateFileSystemEntries(directory))
            {
                yield return System.IO.Path.GetFileName(host);
            }

            yield break;
        }

        // getdents64: names are bytes, kept through UnixPathEncoding (the BCL would replace invalid UTF-8).
        foreach (string name in UnixNative.ReadDirectory(directory))
        {
            yield return name;
        }
    }

    private static CpioTreeItem Describe(string host, string path)
    {
        if (UnixNative.IsSupported)
        {
            if (!UnixNative.TryLStat(host, out UnixStat st))
            {
                throw new FileNotFoundException($"'{host}' disappeared while the tree was read.", host);
            }

            var type = (CpioEntryType)st.Type;
            var item = new CpioTreeItem(path, type)
            {
                Mode = (UnixFileMode)(st.Mode & 0xFFF),
                Uid = st.Uid,
                Gid = st.Gid,
                ModificationTimeSeconds = st.ModificationTime.Seconds,
                RDevMajor = st.RDevMajor,
                RDevMinor = st.RDevMinor,
            };
            if (type == CpioEntryType.RegularFile)
            {
                item.Length = st.Size;
                item.OpenData = () => HostFileReadStream.Open(host);
                if (st.NLink > 1)
                {
                    item.HardLinkKey = (st.DevMajor, st.DevMinor, st.Inode);
                }
            }
            else if (type == CpioEntryType.SymbolicLink)
            {
                item.LinkTarget = UnixNative.ReadLink(host);
            }

            return item;
        }

        // Portable fallback (no owners, devices or hard links).
        var info = new FileInfo(host);
        if (info.LinkTarget is not null)
        {
            return new CpioTreeItem(path, CpioEntryType.SymbolicLink) { LinkTarget = info.LinkTarget, ModificationTimeSeconds = info.LastWriteTimeUtc.ToUnixTime() };
        }

        if ((info.Attributes & FileAttributes.Directory) != 0)
        {
            return new CpioTreeItem(path, CpioEntryType.Directory) { ModificationTimeSeconds = info.LastWriteTimeUtc.ToUnixTime() };
        }

        return new CpioTreeItem(path, CpioEntryType.RegularFile)
        {
            Length = info.Length,
            ModificationTimeSeconds = info.LastWriteTimeUtc.ToUnixTime(),
            Mode = OperatingSystem.IsWindows() ? (UnixFileMode)0x1A4 : File.GetUnixFileMode(host),
            OpenData = () => HostFileReadStream.Open(host),
        };
    }
}

internal static class DateTimeUnixExtensions
{
    public static long ToUnixTime(this DateTime utc) => new DateTimeOffset(utc, TimeSpan.Zero).ToUnixTimeSeconds();
}
