namespace DiskImage.FileSystems.Xfs;

/// <summary>Options for <see cref="XfsFileSystem.Open"/>.</summary>
public sealed class XfsOpenOptions
{
    /// <summary>The defaults: read-only, checksums verified.</summary>
    public static XfsOpenOptions Default { get; } = new();

    /// <summary>
    /// Whether the CRCs of version 5 metadata (superblock, inodes, btree, directory, attribute and
    /// symbolic-link blocks) are verified on read; a mismatch throws <see cref="InvalidDataException"/>.
    /// Default true.
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;
}
