using DiskImage.FileSystems.Host;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

public sealed partial class Ext4FileSystem
{
    /// <summary>
    /// Formats <paramref name="device"/> and fills it with the tree of <paramref name="source"/> in one pass, like
    /// <c>mke2fs -t ext4 -d</c>: types, permission bits, owners, nanosecond times, sizes, link targets, device
    /// numbers, hard links (entries with the same <see cref="UnixFileInfo.Inode"/> and a link count above one) and
    /// extended attributes are preserved; file data is laid out in contiguous runs.
    /// </summary>
    /// <param name="device">A writable device; its length is the file-system size (see <see cref="ComputeBuildSize"/>).</param>
    /// <param name="source">The tree to copy; its root directory's mode, owner, times and xattrs go to the new root.</param>
    /// <param name="options">Format options and size margins; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the build before the next entry or chunk of file data; the device then
    /// holds an incomplete file system and should be discarded.</param>
    /// <exception cref="OperationCanceledException">The build was cancelled.</exception>
    /// <exception cref="IOException">The tree does not fit on the device, or reading the source failed.</exception>
    /// <exception cref="ArgumentException">An option is out of range, the device is too small for an empty file system,
    /// or a <c>system.posix_acl_access</c>/<c>_default</c> xattr of the source is not a valid POSIX ACL.</exception>
    /// <exception cref="NotSupportedException">The device is not writable, or the tree has something ext4 cannot hold
    /// (a name over 255 bytes, a symlink target longer than a block, an entry's xattrs larger than one block, an
    /// xattr name ext4 cannot store: unknown namespace, suffix over 255 bytes, the reserved <c>system.data</c>).</exception>
    public static void Build(BlockDevice device, IFileSystem source, Ext4BuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(source);
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        var builder = new Ext4Builder(source, options ?? new Ext4BuildOptions(), cancellationToken);
        builder.Scan();
        builder.Build(device);
    }

    /// <summary>Builds from a host directory (through <see cref="HostDirectoryFileSystem"/>); see <see cref="Build(BlockDevice, IFileSystem, Ext4BuildOptions?, CancellationToken)"/>.</summary>
    /// <exception cref="DirectoryNotFoundException"><paramref name="sourceDirectory"/> does not exist.</exception>
    /// <exception cref="PlatformNotSupportedException">Not running on Linux (reading host metadata needs statx and llistxattr).</exception>
    public static void Build(BlockDevice device, string sourceDirectory, Ext4BuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentException.ThrowIfNullOrEmpty(sourceDirectory);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Building from a host directory needs Linux (statx, llistxattr).");
        }

        using var source = new HostDirectoryFileSystem(sourceDirectory);
        Build(device, source, options, cancellationToken);
    }

    /// <summary>
    /// The smallest device size in bytes that <see cref="Build(BlockDevice, IFileSystem, Ext4BuildOptions?, CancellationToken)"/> can
    /// fill with <paramref name="source"/> under the given format options, plus <see cref="Ext4BuildOptions.ExtraPercent"/>
    /// and <see cref="Ext4BuildOptions.ExtraBytes"/>, rounded up to the block size. Reads the tree's metadata, not its content.
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range, or a POSIX ACL xattr of the source is not a valid ACL.</exception>
    /// <exception cref="NotSupportedException">The tree has something ext4 cannot hold (see <see cref="Build(BlockDevice, IFileSystem, Ext4BuildOptions?, CancellationToken)"/>).</exception>
    public static long ComputeBuildSize(IFileSystem source, Ext4BuildOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var builder = new Ext4Builder(source, options ?? new Ext4BuildOptions());
        builder.Scan(sizingOnly: true);
        return builder.ComputeSize();
    }
}
