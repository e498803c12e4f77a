namespace DiskImage.FileSystems.Ext4;

/// <summary>How <see cref="Ext4FileSystem.Open(IO.BlockDevice, Ext4OpenOptions?, bool)"/> treats the file system.</summary>
public sealed class Ext4OpenOptions
{
    /// <summary>
    /// Whether metadata checksums (superblock, group descriptors, inodes, extent blocks, directory
    /// blocks, htree nodes, xattr blocks) are verified on read. A mismatch throws
    /// <see cref="InvalidDataException"/>. Default: true.
    /// </summary>
    public bool VerifyChecksums { get; set; } = true;

    /// <summary>
    /// Whether a file system whose journal needs recovery (a snapshot of a running system) may be read
    /// as it is, without replaying the journal; recent changes may then be missing. Default: false
    /// (<see cref="NotSupportedException"/>).
    /// </summary>
    public bool AllowJournalRecoveryNeeded { get; set; }
}
