using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes a changed tree back: the whole file system is laid out again by <see cref="XfsBuilder"/> (same UUID, label,
/// block and inode size, allocation-group count, log size and feature profile) into a sparse scratch file, reading
/// unchanged file content from the device; only then is what differs copied onto the device by
/// <see cref="XfsCopyBack"/>, which puts the old bytes back when a write fails. A build that fails (the tree does not
/// fit, a limit of the builder) leaves the device untouched.
/// </summary>
internal static class XfsRewriter
{
    /// <summary>
    /// Rebuilds <paramref name="device"/> from <paramref name="tree"/>; returns the new XFS inode number of every regular
    /// file of the tree, by its inode number in the tree.
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
    public static Dictionary<long, ulong> Rewrite(BlockDevice device, long bytes, XfsFormatOptions options, int sectorSize, IFileSystem tree, ref bool deviceConsistent)
    {
        string scratch = Path.Combine(Path.GetTempPath(), "diskimage-xfs-" + Guid.NewGuid().ToString("N") + ".img");
        try
        {
            using FileBlockDevice file = FileBlockDevice.Create(scratch, bytes);
            var tracked = new XfsWrittenRangeDevice(file);
            (List<XfsBuildItem> items, _) = XfsTreeScanner.Scan(tree, sizingOnly: false, CancellationToken.None);
            var now = new XfsFormatOptions
            {
                Profile = options.Profile, BlockSize = options.BlockSize, InodeSize = options.InodeSize, AgCount = options.AgCount,
                LogBlocks = options.LogBlocks, Uuid = options.Uuid, Label = options.Label, Timestamp = DateTimeOffset.UtcNow,
            };
            try
            {
                new XfsBuilder(items, now, CancellationToken.None).Build(tracked, tree);
            }
            catch (IOException e) when (e.Message.StartsWith("The tree does not fit", StringComparison.Ordinal))
            {
                // The allocator's refusal, raised before the scratch file is written: the file system is full.
                throw new IOException("No space left on the XFS file system for the changes (" + e.Message + "); the device is unchanged and the changes are still pending.", e);
            }

            XfsCopyBack.Run(device, file, tracked.Ranges(), sectorSize, ref deviceConsistent);
            var inodes = new Dictionary<long, ulong>();
            foreach (XfsBuildItem item in items)
            {
                if (item.Info.Type == UnixFileType.RegularFile)
                {
                    inodes[item.Info.Inode] = item.Inode;
                }
            }

            return inodes;
        }
        finally
        {
            File.Delete(scratch);
        }
    }
}
