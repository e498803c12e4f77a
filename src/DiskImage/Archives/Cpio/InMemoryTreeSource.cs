using System.Runtime.InteropServices;

namespace DiskImage.Archives.Cpio;

/// <summary>A tree built in code (files from bytes or stream factories, links, device nodes) for <see cref="CpioArchiveBuilder"/>.</summary>
public sealed class InMemoryTreeSource : ICpioTreeSource
{
    private readonly List<CpioTreeItem> _items = [];

    /// <summary>Adds an item as given.</summary>
    public CpioTreeItem Add(CpioTreeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        _items.Add(item);
        return item;
    }

    /// <summary>Adds a directory.</summary>
    public CpioTreeItem AddDirectory(string path, UnixFileMode mode = (UnixFileMode)0x1ED) =>
        Add(new CpioTreeItem(path, CpioEntryType.Directory) { Mode = mode });

    /// <summary>Adds a regular file holding <paramref name="content"/>.</summary>
    public CpioTreeItem AddFile(string path, ReadOnlyMemory<byte> content, UnixFileMode mode = (UnixFileMode)0x1A4) =>
        Add(new CpioTreeItem(path, CpioEntryType.RegularFile)
        {
            Mode = mode,
            Length = content.Length,
            OpenData = () => MemoryMarshal.TryGetArray(content, out ArraySegment<byte> segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(content.ToArray(), writable: false),
        });

    /// <summary>Adds a symbolic link.</summary>
    public CpioTreeItem AddSymbolicLink(string path, string target) =>
        Add(new CpioTreeItem(path, CpioEntryType.SymbolicLink) { LinkTarget = target });

    /// <summary>Adds a character or block device node, a FIFO or a socket.</summary>
    public CpioTreeItem AddSpecial(string path, CpioEntryType type, uint major = 0, uint minor = 0, UnixFileMode mode = (UnixFileMode)0x1A4)
    {
        if (type is not (CpioEntryType.CharacterDevice or CpioEntryType.BlockDevice or CpioEntryType.Fifo or CpioEntryType.Socket))
        {
            throw new ArgumentOutOfRangeException(nameof(type));
        }

        return Add(new CpioTreeItem(path, type) { Mode = mode, RDevMajor = major, RDevMinor = minor });
    }

    /// <summary>Adds <paramref name="path"/> as another name of the regular file <paramref name="existing"/>.</summary>
    public CpioTreeItem AddHardLink(string path, CpioTreeItem existing)
    {
        ArgumentNullException.ThrowIfNull(existing);
        if (existing.EntryType != CpioEntryType.RegularFile)
        {
            throw new ArgumentException("Only regular files can be hard linked.", nameof(existing));
        }

        existing.HardLinkKey ??= new object();
        return Add(new CpioTreeItem(path, CpioEntryType.RegularFile)
        {
            Mode = existing.Mode,
            Uid = existing.Uid,
            Gid = existing.Gid,
            ModificationTimeSeconds = existing.ModificationTimeSeconds,
            Length = existing.Length,
            OpenData = existing.OpenData,
            HardLinkKey = existing.HardLinkKey,
        });
    }

    /// <inheritdoc />
    public IEnumerable<CpioTreeItem> EnumerateItems() => _items;
}
