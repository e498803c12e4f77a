using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

public sealed partial class Ext4FileSystem
{
    /// <summary>
    /// Writes an empty ext4 file system over the whole of <paramref name="device"/> (like <c>mke2fs -t ext4</c>):
    /// superblock and sparse_super backups, group descriptors, bitmaps with uninit flags, root directory,
    /// <c>lost+found</c> and an empty journal. Only metadata is written; inode tables and the journal are
    /// zeroed with <see cref="BlockDevice.WriteZeroes(long, long)"/> (holes on sparse files).
    /// </summary>
    /// <param name="device">A writable device; its length is the file-system size (rounded down to whole blocks).</param>
    /// <param name="options">Profile, geometry and the identifiers that make the result reproducible.</param>
    /// <exception cref="ArgumentException">The device is too small, or an option is out of range.</exception>
    /// <exception cref="NotSupportedException">The device is not writable, or the size needs what the profile lacks (e.g. more than 2^32 blocks without 64bit).</exception>
    public static void Format(BlockDevice device, Ext4FormatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!device.CanWrite)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        new Ext4Formatter(device, options ?? new Ext4FormatOptions()).Run();
    }
}
