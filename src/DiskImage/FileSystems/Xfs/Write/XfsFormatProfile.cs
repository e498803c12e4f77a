namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The feature set <see cref="XfsFileSystem.Format"/> and <see cref="XfsFileSystem.Build(IO.BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/>
/// lay out: what <c>mkfs.xfs</c> of each distribution enables by default. Every profile is version 5 (metadata CRCs)
/// with ftype, finobt, lazy superblock counters, attr2 and 32-bit project ids; geometry is chosen like mkfs.xfs 6.1.
/// </summary>
public enum XfsFormatProfile
{
    /// <summary>Debian 12 (xfsprogs 6.1) and RHEL 9: crc, ftype, finobt, sparse inodes, reflink, bigtime, inobtcount.</summary>
    Debian12,

    /// <summary>RHEL 7 (xfsprogs 4.5): crc, ftype, finobt; no sparse inodes, no reflink, 32-bit timestamps.</summary>
    Rhel7,

    /// <summary>RHEL 8 (xfsprogs 5.0 with Red Hat's reflink default): <see cref="Rhel7"/> plus sparse inodes and reflink.</summary>
    Rhel8,

    /// <summary>RHEL 9 (xfsprogs 5.14/5.19): the same features as <see cref="Debian12"/>.</summary>
    Rhel9,

    /// <summary>
    /// Upstream xfsprogs 6.5 and later: <see cref="Debian12"/> plus rmapbt (the reverse-mapping btree, bulk-loaded per
    /// allocation group with every used extent's owner, and rebuilt at every flush) and nrext64 (inodes with the large
    /// extent counters). Below 300 MiB the log is 16 MiB, the smallest the kernel mounts with rmapbt.
    /// </summary>
    Upstream,
}
