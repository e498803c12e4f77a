namespace DiskImage.OpenStack.Build;

/// <summary>One image of an <see cref="OvercloudRecipe"/> (an entry of its <c>images:</c> list) and the files it produces.</summary>
public sealed class OvercloudImageRecipe
{
    /// <summary>The image's name (<c>overcloud-full</c>), used to select it and as the default file-name stem.</summary>
    public required string Name { get; init; }

    /// <summary>What the image produces.</summary>
    public required OvercloudImageKind Kind { get; init; }

    /// <summary>Partition images: the file system built, <c>xfs</c> (default) or <c>ext4</c>; whole-disk images: the default of their volumes.</summary>
    public string FileSystem { get; init; } = "xfs";

    /// <summary>Partition and whole-disk images: the XFS feature profile (<c>debian12</c> default, <c>rhel9</c>, <c>rhel8</c>, <c>rhel7</c>).</summary>
    public string XfsProfile { get; init; } = "debian12";

    /// <summary>Partition images: the file-system label, which <c>/etc/fstab</c> mounts <c>/</c> by. Default <c>img-rootfs</c>.</summary>
    public string Label { get; init; } = "img-rootfs";

    /// <summary>Partition and whole-disk images: <c>qcow2</c> (default) or <c>raw</c>.</summary>
    public string Format { get; init; } = "qcow2";

    /// <summary>Partition and whole-disk images: whether the qcow2 clusters are compressed (deflate, like <c>qemu-img convert -c</c>).</summary>
    public bool Compress { get; init; }

    /// <summary>
    /// Partition and whole-disk images with <see cref="Compress"/>: the deflate level of the qcow2 clusters (recipe key
    /// <c>compression-level</c>, 1–9), default <see cref="DefaultCompressionLevel"/>.
    /// </summary>
    public int CompressionLevel { get; init; } = DefaultCompressionLevel;

    /// <summary>
    /// The deflate level compressed images use unless the recipe names one: 3, about half the CPU time of zlib's
    /// default 6 for an output a few percent larger (about the size of <c>qemu-img convert -c</c>'s, which uses
    /// level 6 with a 4 KiB deflate window).
    /// </summary>
    public const int DefaultCompressionLevel = 3;

    /// <summary>Partition and whole-disk images: the image file name (default <c>NAME.qcow2</c> or <c>NAME.raw</c>).</summary>
    public string? ImageFile { get; init; }

    /// <summary>The kernel file name (<c>NAME.vmlinuz</c> for partition images, <c>NAME.kernel</c> for ramdisks), or null when not produced.</summary>
    public string? KernelFile { get; init; }

    /// <summary>The initrd (partition images: the guest's own, <c>NAME.initrd</c>) or initramfs (ramdisks: <c>NAME.initramfs</c>) file name, or null when not produced.</summary>
    public string? InitrdFile { get; init; }

    /// <summary>Whole-disk images: the partition table, partitions, volume group and volumes; null for other kinds.</summary>
    public OvercloudDiskLayout? Disk { get; init; }

    /// <summary>
    /// Whether building every image (<c>overcloud build --all</c>, an empty <see cref="OvercloudBuildOptions.Images"/>)
    /// includes this one (recipe key <c>all:</c>, default true); an image with false is built only when named.
    /// </summary>
    public bool BuildByDefault { get; init; } = true;

    /// <summary>Ramdisk images: what the initramfs takes from the guest; null for partition images.</summary>
    public OvercloudRamdiskRecipe? Ramdisk { get; init; }

    /// <summary>The files this image produces, in build order.</summary>
    public IReadOnlyList<string> Files
    {
        get
        {
            var files = new List<string>(3);
            if (ImageFile is not null)
            {
                files.Add(ImageFile);
            }

            if (KernelFile is not null)
            {
                files.Add(KernelFile);
            }

            if (InitrdFile is not null)
            {
                files.Add(InitrdFile);
            }

            return files;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Kind})";
}
