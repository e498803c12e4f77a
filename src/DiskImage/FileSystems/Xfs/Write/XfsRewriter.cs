using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes a changed tree back. The file system is laid out again by <see cref="XfsBuilder"/> (same UUID, label, block and
/// inode size, allocation-group count, log size and feature profile) in place: every inode chunk stays where it is, so
/// every inode keeps its number, and every file whose content did not change keeps its data extents; directories,
/// attributes, new and changed content, inodes and the AG btrees and headers are written into a sparse scratch file.
/// Only the pieces that differ from the device are then copied onto it by <see cref="XfsCopyBack"/>, which puts the old
/// bytes back when a write fails. Unchanged content is neither read nor written. When the existing layout cannot be
/// kept (a geometry the builder does not lay out, an inode chunk where the builder puts its headers or log), the whole
/// file system is laid out anew instead, reading unchanged content from the device. A build that fails (the tree does
/// not fit, a limit of the builder) leaves the device untouched.
/// </summary>
internal static class XfsRewriter
{
    /// <summary>
    /// Rebuilds <paramref name="device"/> from <paramref name="tree"/>; returns the XFS inode number of every entry of the
    /// tree, by its inode number in the tree.
    /// </summary>
    /// <param name="device">The device holding the file system.</param>
    /// <param name="bytes">The file-system size in bytes.</param>
    /// <param name="options">The geometry and profile to lay out.</param>
    /// <param name="sectorSize">The superblock's sector size.</param>
    /// <param name="tree">The tree to write.</param>
    /// <param name="deviceConsistent">Set to false when a failed copy-back could not be undone.</param>
    /// <exception cref="IOException">The tree does not fit ("No space left"), the scratch file cannot be written, or
    /// writing the device failed (see <see cref="XfsCopyBack.Run"/> for the state it is left in).</exception>
    /// <exception cref="NotSupportedException">The tree holds something the builder cannot store.</exception>
    public static Dictionary<long, ulong> Rewrite(BlockDevice device, long bytes, XfsFormatOptions options, int sectorSize, XfsWritableTree tree, ref bool deviceConsistent)
    {
        (List<XfsBuildItem> items, _) = XfsTreeScanner.Scan(tree, sizingOnly: false, CancellationToken.None);
        var now = new XfsFormatOptions
        {
            Profile = options.Profile, BlockSize = options.BlockSize, InodeSize = options.InodeSize, AgCount = options.AgCount,
            LogBlocks = options.LogBlocks, Uuid = options.Uuid, Label = options.Label, Timestamp = DateTimeOffset.UtcNow,
            ReverseMap = options.ReverseMap, LargeExtentCounts = options.LargeExtentCounts,
        };
        XfsBuilder builder;
        try
        {
            XfsBuilder? kept = InPlace(device, bytes, now, sectorSize, tree, items);
            if (kept is null)
            {
                kept = new XfsBuilder(items, now, CancellationToken.None);
                kept.LayOut(bytes);
            }

            builder = kept;
        }
        catch (IOException e) when (e.Message.StartsWith("The tree does not fit", StringComparison.Ordinal))
        {
            // The allocator's refusal, raised before the scratch file is written: the file system is full.
            throw new IOException("No space left on the XFS file system for the changes (" + e.Message + "); the device is unchanged and the changes are still pending.", e);
        }

        string scratch = Path.Combine(Path.GetTempPath(), "diskimage-xfs-" + Guid.NewGuid().ToString("N") + ".img");
        try
        {
            using FileBlockDevice file = FileBlockDevice.Create(scratch, bytes);
            var tracked = new XfsWrittenRangeDevice(file);
            builder.Build(tracked, tree);
            XfsCopyBack.Run(device, file, tracked.Ranges(), sectorSize, ref deviceConsistent);
            var inodes = new Dictionary<long, ulong>(items.Count);
            foreach (XfsBuildItem item in items)
            {
                inodes[item.Info.Inode] = item.Inode;
            }

            return inodes;
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    /// <summary>
    /// A builder keeping the device's inode chunks, inode numbers and unchanged data in place, already laid out; null when
    /// the device's layout cannot be kept (the caller then lays the whole file system out anew).
    /// </summary>
    private static XfsBuilder? InPlace(BlockDevice device, long bytes, XfsFormatOptions format, int sectorSize, XfsWritableTree tree, List<XfsBuildItem> items)
    {
        XfsGeometry g = XfsGeometry.Create(bytes, format);
        byte[] sb = new byte[XfsSuperBlock.Size];
        device.ReadExactly(0, sb);
        ReadOnlySpan<byte> s = sb;
        if (BinaryPrimitives.ReadInt64BigEndian(s[8..]) != g.DataBlocks || BinaryPrimitives.ReadInt64BigEndian(s[48..]) != g.LogStart ||
            BinaryPrimitives.ReadUInt64BigEndian(s[56..]) != g.RootInode || BinaryPrimitives.ReadUInt64BigEndian(s[64..]) != g.RootInode + 1 ||
            BinaryPrimitives.ReadUInt64BigEndian(s[72..]) != g.RootInode + 2 || BinaryPrimitives.ReadInt32BigEndian(s[84..]) != g.AgBlocks ||
            BinaryPrimitives.ReadInt32BigEndian(s[88..]) != g.AgCount || BinaryPrimitives.ReadInt32BigEndian(s[180..]) != g.InodeAlign ||
            (g.Sparse && BinaryPrimitives.ReadInt32BigEndian(s[228..]) != g.SparseAlign))
        {
            return null;
        }

        List<XfsExistingChunk>[] chunks = XfsExistingChunks.Read(device, g, sectorSize);
        foreach (XfsBuildItem item in items)
        {
            item.KeptInode = tree.DeviceInode(item.Info.Inode);
            item.KeptData = item.Info.Type == UnixFileType.RegularFile ? tree.DeviceExtents(item.Info.Inode) : null;
        }

        var builder = new XfsBuilder(items, format, chunks, device);
        try
        {
            builder.LayOut(bytes);
            return builder;
        }
        catch (Exception e) when (e is XfsLayoutConflictException or NotSupportedException ||
            (e is IOException && e.Message.StartsWith("The tree does not fit", StringComparison.Ordinal)))
        {
            // Kept in place it does not fit (or the existing layout is in the way): lay everything out anew.
            foreach (XfsBuildItem item in items)
            {
                item.KeptInode = 0;
                item.KeptData = null;
                item.DataInPlace = false;
            }

            return null;
        }
    }
}
