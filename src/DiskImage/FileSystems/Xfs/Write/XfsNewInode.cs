using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The core of a version 3 inode a writer lays out (<c>struct xfs_dinode</c>, 176 bytes): identity, times, counters
/// and fork formats. The forks themselves are written by the caller into the literal area after the core.
/// </summary>
internal sealed class XfsNewInode
{
    public const byte FormatDevice = 0;
    public const byte FormatLocal = 1;
    public const byte FormatExtents = 2;
    public const byte FormatBtree = 3;
    private const ulong Flags2BigTime = 0x8;
    private const ulong Flags2LargeExtentCounts = 0x10;
    private const long BigTimeEpochOffset = 1L << 31;

    /// <summary>The full <c>di_mode</c> (type bits and permissions).</summary>
    public ushort Mode { get; set; }

    public uint UserId { get; set; }

    public uint GroupId { get; set; }

    public uint LinkCount { get; set; }

    public UnixTime AccessTime { get; set; }

    public UnixTime ModificationTime { get; set; }

    public UnixTime ChangeTime { get; set; }

    public UnixTime CreationTime { get; set; }

    public long Size { get; set; }

    public long BlockCount { get; set; }

    public int DataExtents { get; set; }

    public int AttrExtents { get; set; }

    /// <summary>Attribute fork offset in 8-byte units (0: no attribute fork).</summary>
    public int ForkOffset { get; set; }

    public byte DataFormat { get; set; } = FormatExtents;

    public byte AttrFormat { get; set; } = FormatExtents;

    /// <summary><c>di_flags</c> (e.g. 0x4 NEWRTBM on the realtime bitmap inode).</summary>
    public ushort Flags { get; set; }

    /// <summary>Writes the core into <paramref name="inode"/> (InodeSize bytes, the rest left as it is).</summary>
    public void WriteTo(Span<byte> inode, XfsGeometry g, ReadOnlySpan<byte> uuid, ulong number)
    {
        inode[..XfsGeometry.InodeCoreSize].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(inode, 0x494E);
        BinaryPrimitives.WriteUInt16BigEndian(inode[2..], Mode);
        inode[4] = 3;
        inode[5] = DataFormat;
        BinaryPrimitives.WriteUInt32BigEndian(inode[8..], UserId);
        BinaryPrimitives.WriteUInt32BigEndian(inode[12..], GroupId);
        BinaryPrimitives.WriteUInt32BigEndian(inode[16..], LinkCount);
        WriteTime(inode[32..], AccessTime, g.BigTime);
        WriteTime(inode[40..], ModificationTime, g.BigTime);
        WriteTime(inode[48..], ChangeTime, g.BigTime);
        BinaryPrimitives.WriteInt64BigEndian(inode[56..], Size);
        BinaryPrimitives.WriteInt64BigEndian(inode[64..], BlockCount);
        if (g.LargeExtentCounts)
        {
            // nrext64 layout: 64-bit data extent count in the old padding, 32-bit attribute extent count.
            BinaryPrimitives.WriteInt64BigEndian(inode[24..], DataExtents);
            BinaryPrimitives.WriteInt32BigEndian(inode[76..], AttrExtents);
        }
        else
        {
            BinaryPrimitives.WriteInt32BigEndian(inode[76..], DataExtents);
            BinaryPrimitives.WriteUInt16BigEndian(inode[80..], (ushort)AttrExtents);
        }

        inode[82] = (byte)ForkOffset;
        inode[83] = AttrFormat;
        BinaryPrimitives.WriteUInt16BigEndian(inode[90..], Flags);
        BinaryPrimitives.WriteUInt32BigEndian(inode[96..], uint.MaxValue);
        BinaryPrimitives.WriteUInt64BigEndian(inode[104..], 1);
        BinaryPrimitives.WriteUInt64BigEndian(inode[120..], (g.BigTime ? Flags2BigTime : 0) | (g.LargeExtentCounts ? Flags2LargeExtentCounts : 0));
        WriteTime(inode[144..], CreationTime, g.BigTime);
        BinaryPrimitives.WriteUInt64BigEndian(inode[152..], number);
        uuid.CopyTo(inode[160..]);
    }

    /// <summary>Writes a never-used inode as mkfs.xfs does: magic, version, next_unlinked, number, uuid, CRC.</summary>
    public static void WriteFree(Span<byte> inode, ReadOnlySpan<byte> uuid, ulong number)
    {
        inode.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(inode, 0x494E);
        inode[4] = 3;
        BinaryPrimitives.WriteUInt32BigEndian(inode[96..], uint.MaxValue);
        BinaryPrimitives.WriteUInt64BigEndian(inode[152..], number);
        uuid.CopyTo(inode[160..]);
        XfsChecksum.Update(inode, 100);
    }

    /// <summary>Whether <paramref name="time"/> can be stored (32-bit seconds, or bigtime's 1901–2486).</summary>
    public static bool IsRepresentable(UnixTime time, bool bigTime) =>
        bigTime ? time.Seconds >= -BigTimeEpochOffset && time.Seconds < (long)(ulong.MaxValue / 1_000_000_000) - BigTimeEpochOffset
                : time.Seconds is >= int.MinValue and <= int.MaxValue;

    private static void WriteTime(Span<byte> s, UnixTime t, bool bigTime)
    {
        if (bigTime)
        {
            long sec = Math.Clamp(t.Seconds, -BigTimeEpochOffset, (long)(ulong.MaxValue / 1_000_000_000) - BigTimeEpochOffset - 1);
            BinaryPrimitives.WriteUInt64BigEndian(s, ((ulong)(sec + BigTimeEpochOffset) * 1_000_000_000) + (ulong)t.Nanoseconds);
        }
        else
        {
            BinaryPrimitives.WriteInt32BigEndian(s, (int)Math.Clamp(t.Seconds, int.MinValue, int.MaxValue));
            BinaryPrimitives.WriteInt32BigEndian(s[4..], t.Nanoseconds);
        }
    }
}
