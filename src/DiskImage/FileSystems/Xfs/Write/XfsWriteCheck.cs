using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Decides whether an XFS file system may be opened for writing, and with which format options it is written back:
/// a version 5 file system whose features are exactly those of one <see cref="XfsFormatProfile"/> (rmapbt and nrext64
/// may be added to any), with an internal,
/// clean log, no realtime section, no quotas and a geometry <see cref="XfsGeometry"/> can lay out again.
/// </summary>
internal static class XfsWriteCheck
{
    private const uint LogRecordMagic = 0xFEEDBABE;
    private const byte UnmountTransaction = 0x20;
    private const int LogChunkBytes = 1 << 20;

    /// <summary>Returns the options that rebuild this file system, or throws.</summary>
    /// <exception cref="NotSupportedException">The file system cannot be written (the message names why).</exception>
    /// <exception cref="InvalidDataException">The log is corrupt.</exception>
    public static XfsFormatOptions Check(BlockDevice device, XfsSuperBlock sb)
    {
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        if (!sb.HasCrc)
        {
            throw new NotSupportedException("Writing version 4 XFS file systems (crc=0) is not supported; only version 5.");
        }

        byte[] raw = new byte[XfsSuperBlock.Size];
        device.ReadExactly(0, raw);
        ReadOnlySpan<byte> s = raw;
        if (BinaryPrimitives.ReadUInt64BigEndian(s[16..]) != 0 || BinaryPrimitives.ReadUInt64BigEndian(s[24..]) != 0)
        {
            throw new NotSupportedException("Writing XFS file systems with a realtime section is not supported.");
        }

        ulong logStart = BinaryPrimitives.ReadUInt64BigEndian(s[48..]);
        uint logBlocks = BinaryPrimitives.ReadUInt32BigEndian(s[96..]);
        if (logStart == 0)
        {
            throw new NotSupportedException("Writing XFS file systems with an external log is not supported.");
        }

        if (s[126] != 0)
        {
            throw new NotSupportedException("The XFS file system is marked as being made (sb_inprogress); it is not written.");
        }

        foreach (int off in (ReadOnlySpan<int>)[160, 168, 232])
        {
            ulong q = BinaryPrimitives.ReadUInt64BigEndian(s[off..]);
            if (q != 0 && q != ulong.MaxValue)
            {
                throw new NotSupportedException("Writing XFS file systems with quota inodes is not supported.");
            }
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(s[176..]) != 0)
        {
            throw new NotSupportedException("Writing XFS file systems with quota accounting on is not supported.");
        }

        XfsIncompatibleFeatures inc = sb.Incompatible & ~XfsIncompatibleFeatures.MetaUuid;
        XfsReadOnlyCompatibleFeatures ro = sb.ReadOnlyCompatible;
        if ((inc & XfsIncompatibleFeatures.NeedsRepair) != 0)
        {
            throw new NotSupportedException("The XFS file system needs repair (needsrepair); run xfs_repair first.");
        }

        // The reverse-mapping btree and the large extent counters go with any profile's set (mkfs.xfs -m rmapbt=1, -i nrext64=1).
        bool rmap = (ro & XfsReadOnlyCompatibleFeatures.ReverseMapBtree) != 0;
        bool nrext64 = (inc & XfsIncompatibleFeatures.LargeExtentCounts) != 0;
        ro &= ~XfsReadOnlyCompatibleFeatures.ReverseMapBtree;
        inc &= ~XfsIncompatibleFeatures.LargeExtentCounts;
        const XfsIncompatibleFeatures Ft = XfsIncompatibleFeatures.FileType;
        const XfsIncompatibleFeatures Sp = XfsIncompatibleFeatures.SparseInodes;
        const XfsReadOnlyCompatibleFeatures Fi = XfsReadOnlyCompatibleFeatures.FreeInodeBtree;
        const XfsReadOnlyCompatibleFeatures Rl = XfsReadOnlyCompatibleFeatures.Reflink;
        XfsFormatProfile profile;
        if (inc == Ft && ro == Fi)
        {
            profile = XfsFormatProfile.Rhel7;
        }
        else if (inc == (Ft | Sp) && ro == (Fi | Rl))
        {
            profile = XfsFormatProfile.Rhel8;
        }
        else if (inc == (Ft | Sp | XfsIncompatibleFeatures.BigTime) && ro == (Fi | Rl | XfsReadOnlyCompatibleFeatures.InodeBtreeCounts))
        {
            profile = rmap && nrext64 ? XfsFormatProfile.Upstream : XfsFormatProfile.Debian12;
        }
        else
        {
            throw new NotSupportedException($"Writing this XFS feature set is not supported (incompat: {sb.Incompatible}; ro_compat: {ro}): " +
                "only the sets of the Rhel7 (ftype, finobt), Rhel8 (+ sparse, reflink) and Rhel9/Debian12 (+ bigtime, inobtcount) profiles are written, " +
                "each also with rmapbt and nrext64 (Upstream).");
        }

        if (sb.DirectoryBlockSize != Math.Max(4096, sb.BlockSize))
        {
            throw new NotSupportedException($"Writing XFS file systems with {sb.DirectoryBlockSize}-byte directory blocks is not supported (only max(4096, block size)).");
        }

        var options = new XfsFormatOptions
        {
            Profile = profile,
            BlockSize = sb.BlockSize,
            InodeSize = sb.InodeSize,
            AgCount = (int)sb.AgCount,
            LogBlocks = (int)logBlocks,
            Uuid = sb.Uuid,
            Label = sb.Label,
            ReverseMap = rmap,
            LargeExtentCounts = nrext64,
        };
        try
        {
            XfsGeometry.Create(sb.DataBlocks * sb.BlockSize, options);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"Writing this XFS geometry is not supported: {e.Message}", e);
        }

        if (!sb.IsValidExtent(logStart, logBlocks))
        {
            FormatError.Throw("XFS superblock", 48, "the log lies outside the file system.");
        }

        CheckLogClean(device, sb.BlockOffset(logStart), (long)logBlocks * sb.BlockSize);
        return options;
    }

    /// <summary>
    /// Refuses a log whose last record (the highest cycle, then the highest block) is not an unmount record: the file
    /// system was not unmounted cleanly and its log needs recovery.
    /// </summary>
    private static void CheckLogClean(BlockDevice device, long start, long length)
    {
        byte[] buf = new byte[(int)Math.Min(LogChunkBytes, length)];
        long bestSector = -1;
        uint bestCycle = 0;
        for (long pos = 0; pos < length; pos += buf.Length)
        {
            int n = (int)Math.Min(buf.Length, length - pos);
            device.ReadExactly(start + pos, buf.AsSpan(0, n));
            for (int i = 0; i + 512 <= n; i += 512)
            {
                if (BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(i)) != LogRecordMagic)
                {
                    continue;
                }

                uint cycle = BinaryPrimitives.ReadUInt32BigEndian(buf.AsSpan(i + 4));
                if (bestSector < 0 || cycle >= bestCycle)
                {
                    bestCycle = cycle;
                    bestSector = (pos + i) / 512;
                }
            }
        }

        if (bestSector < 0)
        {
            FormatError.Throw("XFS log", start, "holds no log record.");
        }

        byte[] header = new byte[512];
        device.ReadExactly(start + (bestSector * 512), header);
        int version = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8));
        int size = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(320));
        int ops = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(40));
        if (size is < 0 or > 256 * 1024)
        {
            // h_size is at most XLOG_MAX_RECORD_BSIZE; a hostile value must not send the read past the log.
            FormatError.Throw("XFS log", start + (bestSector * 512), $"record header size {size} is out of range.");
        }

        long headerSectors = version == 2 && size > 32768 ? (size + 32767) / 32768 : 1;
        long dataSector = (bestSector + headerSectors) % (length / 512);

        byte[] data = new byte[512];
        device.ReadExactly(start + (dataSector * 512), data);
        if (ops < 1 || (data[9] & UnmountTransaction) == 0)
        {
            throw new NotSupportedException("The XFS log needs recovery (the file system was not unmounted cleanly); mount and unmount it, or run xfs_repair, before writing.");
        }
    }
}
