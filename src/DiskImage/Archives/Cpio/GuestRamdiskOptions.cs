namespace DiskImage.Archives.Cpio;

/// <summary>What <see cref="GuestRamdiskBuilder"/> puts into a ramdisk assembled from a guest file system.</summary>
public sealed class GuestRamdiskOptions
{
    /// <summary>Nothing from the guest but the base layout; gzip, every time the fixed epoch (or <c>SOURCE_DATE_EPOCH</c>).</summary>
    public static GuestRamdiskOptions Default { get; } = new();

    /// <summary>
    /// Programs of the guest: absolute guest paths, or names looked up in the guest's <c>PATH</c> directories
    /// (<c>/usr/local/sbin</c>, <c>/usr/local/bin</c>, <c>/usr/sbin</c>, <c>/usr/bin</c>, <c>/sbin</c>, <c>/bin</c>).
    /// Each comes with its symbolic-link chain, its ELF interpreter and shared libraries (transitively), or, for a
    /// script, its <c>#!</c> interpreter.
    /// </summary>
    public IReadOnlyList<string> Binaries { get; init; } = [];

    /// <summary>Kernel modules (names or aliases) of the guest, with their dependencies from <c>modules.dep</c>.</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];

    /// <summary>The kernel version whose <c>/lib/modules</c> directory is used; null for the guest's newest.</summary>
    public string? KernelVersion { get; init; }

    /// <summary>
    /// Guest directories copied whole (symbolic links kept, not followed); <c>["/"]</c> puts the guest's whole tree
    /// into the ramdisk. Binaries found in them are not resolved for libraries (a whole tree has them anyway).
    /// </summary>
    public IReadOnlyList<string> Trees { get; init; } = [];

    /// <summary>The text of <c>/init</c> (mode 0755); its <c>#!</c> interpreter is added from the guest as a binary.</summary>
    public string? InitScript { get; init; }

    /// <summary>A guest file copied to <c>/init</c> (mode 0755), with its interpreter or libraries; exclusive with <see cref="InitScript"/>.</summary>
    public string? InitGuestPath { get; init; }

    /// <summary>Extra files and trees from the guest, the host or memory, added last (they replace what is there).</summary>
    public IReadOnlyList<GuestRamdiskFile> ExtraFiles { get; init; } = [];

    /// <summary>
    /// Whether to add the directories and nodes an initramfs needs to start (<c>dev</c>, <c>dev/console</c>
    /// c 5:1, <c>dev/null</c> c 1:3, <c>proc</c>, <c>sys</c>, <c>run</c>, <c>tmp</c>, <c>root</c>); true by default.
    /// </summary>
    public bool BaseLayout { get; init; } = true;

    /// <summary>The compression of the archive (a writable <see cref="InitramfsCompression"/>); gzip by default, as deploy ramdisks were.</summary>
    public InitramfsCompression Compression { get; init; } = InitramfsCompression.Gzip;

    /// <summary>The compressor's level; null for its default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>
    /// The modification time of every entry; null for <c>SOURCE_DATE_EPOCH</c> when set, else the Unix epoch.
    /// Every entry is owned by root (0:0), entries are sorted and inodes numbered in order, so the same guest and
    /// options give the same bytes.
    /// </summary>
    public DateTimeOffset? ModificationTime { get; init; }
}
