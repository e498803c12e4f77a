using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes a changed tree back: the whole file system is laid out again by <see cref="XfsBuilder"/> (same UUID, label,
/// block and inode size, allocation-group count, log size and feature profile) into a sparse scratch file, reading
/// unchanged file content from the device; only then are the ranges the build wrote copied onto the device. A build
/// that fails (the tree does not fit, a limit of the builder) leaves the device untouched.
/// </summary>
internal static class XfsRewriter
{
    private const int CopyChunk = 1 << 20;

    /// <summary>Rebuilds <paramref name="device"/> from <paramref name="tree"/>.</summary>
    /// <exception cref="IOException">The tree does not fit, or the scratch file cannot be written.</exception>
    /// <exception cref="NotSupportedException">The tree holds something the builder cannot store.</exception>
    public static void Rewrite(BlockDevice device, long bytes, XfsFormatOptions options, IFileSystem tree)
    {
        string scratch = Path.Combine(Path.GetTempPath(), "diskimage-xfs-" + Guid.NewGuid().ToString("N") + ".img");
        try
        {
            using (FileBlockDevice file = FileBlockDevice.Create(scratch, bytes))
            {
                var tracked = new XfsWrittenRangeDevice(file);
                (List<XfsBuildItem> items, _) = XfsTreeScanner.Scan(tree, sizingOnly: false, CancellationToken.None);
                var now = new XfsFormatOptions
                {
                    Profile = options.Profile, BlockSize = options.BlockSize, InodeSize = options.InodeSize, AgCount = options.AgCount,
                    LogBlocks = options.LogBlocks, Uuid = options.Uuid, Label = options.Label, Timestamp = DateTimeOffset.UtcNow,
                };
                new XfsBuilder(items, now, CancellationToken.None).Build(tracked, tree);
                byte[] buf = new byte[CopyChunk];
                foreach ((long offset, long length) in tracked.Ranges())
                {
                    for (long done = 0; done < length;)
                    {
                        int n = (int)Math.Min(buf.Length, length - done);
                        file.ReadExactly(offset + done, buf.AsSpan(0, n));
                        device.Write(offset + done, buf.AsSpan(0, n));
                        done += n;
                    }
                }
            }

            device.Flush();
        }
        finally
        {
            File.Delete(scratch);
        }
    }
}
