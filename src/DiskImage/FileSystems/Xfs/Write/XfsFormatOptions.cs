namespace DiskImage.FileSystems.Xfs;

/// <summary>Options for <see cref="XfsFileSystem.Format"/>. Fixing <see cref="Uuid"/> and <see cref="Timestamp"/> makes the
/// result byte-for-byte reproducible.</summary>
public sealed class XfsFormatOptions
{
    /// <summary>The defaults (what a null options argument means); shared, since options are immutable.</summary>
    public static XfsFormatOptions Default { get; } = new();

    /// <summary>Feature profile (default <see cref="XfsFormatProfile.Debian12"/>).</summary>
    public XfsFormatProfile Profile { get; init; } = XfsFormatProfile.Debian12;

    /// <summary>Block size: 1024, 2048 or 4096 (default 4096, as mkfs.xfs).</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>Inode size in bytes: 512 (default), 1024 or 2048.</summary>
    public int InodeSize { get; init; } = 512;

    /// <summary>Number of allocation groups (2 or more); null chooses like mkfs.xfs 6.1 (4 below 4 TiB, 1 TiB groups above).</summary>
    public int? AgCount { get; init; }

    /// <summary>Internal log size in blocks; null chooses like mkfs.xfs 6.1 (64 MiB, or 1/2048 of the file system up to
    /// 2038 MiB; 10 MiB below 300 MiB, where mkfs.xfs refuses to format, 16 MiB there with rmapbt, whose larger
    /// transactions need a larger log to mount).</summary>
    public int? LogBlocks { get; init; }

    /// <summary>File-system UUID; null draws a random one.</summary>
    public Guid? Uuid { get; init; }

    /// <summary>Volume label (at most 12 bytes of UTF-8).</summary>
    public string Label { get; init; } = string.Empty;

    /// <summary>Keep the reverse-mapping btree with a profile that has none (a flush into an image made with <c>-m rmapbt=1</c>).</summary>
    internal bool ReverseMap { get; init; }

    /// <summary>Large extent counters (nrext64) with a profile that has none (a flush into an image made with <c>-i nrext64=1</c>).</summary>
    internal bool LargeExtentCounts { get; init; }

    /// <summary>Creation time of the root directory and the realtime inodes (1970–2106, or 1901–2486 with bigtime); null uses the current time.</summary>
    public DateTimeOffset? Timestamp { get; init; }
}
