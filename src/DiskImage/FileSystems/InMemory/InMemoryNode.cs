namespace DiskImage.FileSystems.InMemory;

/// <summary>One inode of an <see cref="InMemoryFileSystem"/>.</summary>
internal sealed class InMemoryNode
{
    public InMemoryNode(long inode, UnixFileType type, int mode, UnixTime now)
    {
        Inode = inode;
        Type = type;
        Mode = mode & 0xFFF;
        AccessTime = ModificationTime = ChangeTime = CreationTime = now;
        if (type == UnixFileType.Directory)
        {
            Children = new SortedDictionary<string, InMemoryNode>(StringComparer.Ordinal);
        }
    }

    public long Inode { get; }

    public UnixFileType Type { get; }

    public int Mode { get; set; }

    public uint UserId { get; set; }

    public uint GroupId { get; set; }

    public UnixTime AccessTime { get; set; }

    public UnixTime ModificationTime { get; set; }

    public UnixTime ChangeTime { get; set; }

    public UnixTime CreationTime { get; set; }

    /// <summary>Hard links from directories (for a directory: 1, its own entry in the parent).</summary>
    public int Links { get; set; }

    public int DeviceMajor { get; set; }

    public int DeviceMinor { get; set; }

    public string? LinkTarget { get; set; }

    public byte[] Data { get; set; } = [];

    public long Length { get; set; }

    public SortedDictionary<string, InMemoryNode>? Children { get; }

    public SortedDictionary<string, byte[]> Xattrs { get; } = new(StringComparer.Ordinal);

    public int LinkCount
    {
        get
        {
            if (Children is null)
            {
                return Links;
            }

            int n = 2;
            foreach (InMemoryNode c in Children.Values)
            {
                if (c.Type == UnixFileType.Directory)
                {
                    n++;
                }
            }

            return n;
        }
    }

    public long Size => Type switch
    {
        UnixFileType.RegularFile => Length,
        UnixFileType.SymbolicLink => UnixPathEncoding.GetByteCount(LinkTarget!),
        UnixFileType.Directory => 4096,
        _ => 0,
    };

    public UnixFileInfo ToInfo(string path) => new()
    {
        Path = path,
        Type = Type,
        Mode = UnixFileModeBits.FromBits(Mode),
        UserId = UserId,
        GroupId = GroupId,
        Size = Size,
        LinkCount = LinkCount,
        Inode = Inode,
        AccessTime = AccessTime,
        ModificationTime = ModificationTime,
        ChangeTime = ChangeTime,
        CreationTime = CreationTime,
        DeviceMajor = DeviceMajor,
        DeviceMinor = DeviceMinor,
        LinkTarget = LinkTarget,
    };
}
