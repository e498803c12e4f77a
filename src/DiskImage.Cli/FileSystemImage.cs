using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Partitions;

namespace DiskImage.Cli;

/// <summary>
/// An image (raw or qcow2) opened for the file-system verbs (<c>ls</c>, <c>cat</c>, <c>copy-out</c>,
/// <c>copy-in</c>): a bare ext4, XFS or FAT file system, or a whole disk (MBR/GPT), seen through the guest
/// view of its inspected operating system (root plus fstab mounts), or one file system picked with
/// <c>--partition</c>.
/// </summary>
internal sealed class FileSystemImage : IDisposable
{
    private readonly DiskImageFile _image;
    private readonly Guest? _guest;

    private FileSystemImage(DiskImageFile image, IFileSystem fileSystem, Guest? guest = null)
    {
        _image = image;
        FileSystem = fileSystem;
        _guest = guest;
    }

    /// <summary>The file system.</summary>
    public IFileSystem FileSystem { get; }

    /// <summary>Opens <paramref name="path"/> and the ext4 file system in its content.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="format">The <c>-f</c> format name, or null to detect.</param>
    /// <param name="writable">Open the image and the file system for writing.</param>
    /// <exception cref="CliException">The image cannot be opened or holds no usable ext4 file system.</exception>
    /// <param name="skipJournal">Read a file system whose journal needs recovery as it is (read-only verbs).</param>
    /// <param name="partition">The <c>--partition</c> operand (a partition number or a device name such as
    /// <c>/dev/sda2</c> or <c>/dev/VG/LV</c>), or null for the bare file system or the inspected guest.</param>
    /// <param name="mounts">The <c>-m DEVICE[:MOUNTPOINT]</c> operands, explicit mounts that replace inspection (one
    /// must be "/"); null or empty to inspect.</param>
    public static FileSystemImage Open(string path, string? format, bool writable, bool skipJournal = false, string? partition = null, IReadOnlyList<string>? mounts = null)
    {
        List<GuestMount>? explicitMounts = ParseMounts(mounts, partition);
        if (Directory.Exists(path))
        {
            throw new CliException($"'{path}': Is a directory (give the image file that holds the file system)");
        }

        DiskImageFile image = ImageOpener.Open(path, format, writable, followBacking: true);
        try
        {
            if (partition is not null || explicitMounts is not null || IsWholeDisk(image))
            {
                return OpenGuest(path, image, writable, skipJournal, partition, explicitMounts);
            }

            if (XfsFileSystem.IsXfs(image.Content))
            {
                return new FileSystemImage(image, OpenXfs(path, image, writable));
            }

            if (!Ext4FileSystem.IsExt4(image.Content) && FatFileSystem.IsFat(image.Content))
            {
                return new FileSystemImage(image, OpenFat(path, image, writable));
            }

            if (!Ext4FileSystem.IsExt4(image.Content))
            {
                throw new CliException($"'{path}': no ext4 or XFS file system found, nor FAT, nor a partition table");
            }

            Ext4FileSystem fs;
            try
            {
                fs = Ext4FileSystem.Open(image.Content, new Ext4OpenOptions { Writable = writable, AllowJournalRecoveryNeeded = skipJournal && !writable }, leaveOpen: true);
            }
            catch (NotSupportedException) when (NeedsJournalRecovery(image) && (writable || !skipJournal))
            {
                // The library's message names its own option; say what the shell user can do instead.
                if (writable)
                {
                    throw new CliException($"'{path}': the ext4 journal needs recovery (the file system was not cleanly unmounted); replay it with e2fsck -fy before writing to it");
                }

                if (OpenErrorWithoutJournal(image) is { } other)
                {
                    throw new CliException($"'{path}': {other.Message}");
                }

                throw new CliException($"'{path}': the ext4 journal needs recovery (the file system was not cleanly unmounted); check it with e2fsck, or use --skip-journal to read it without the changes still in the journal");
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
            {
                throw new CliException($"'{path}': {e.Message}");
            }

            return new FileSystemImage(image, fs);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>Whether the image holds a partition table rather than a bare file system.</summary>
    private static bool IsWholeDisk(DiskImageFile image)
    {
        BlockDevice content = image.Content;
        if (XfsFileSystem.IsXfs(content) || Ext4FileSystem.IsExt4(content))
        {
            return false;
        }

        try
        {
            return PartitionTable.TryOpen(content) is not null;
        }
        catch (InvalidDataException)
        {
            // A malformed table: the guest open reports it in full.
            return true;
        }
    }

    /// <summary>The <c>-m</c> operands as mounts, or null when there are none.</summary>
    private static List<GuestMount>? ParseMounts(IReadOnlyList<string>? mounts, string? partition)
    {
        if (mounts is null || mounts.Count == 0)
        {
            return null;
        }

        if (partition is not null)
        {
            throw new CliException("-m and --partition cannot be used together (-m dev:/ mounts one file system at the root)");
        }

        var result = new List<GuestMount>(mounts.Count);
        foreach (string m in mounts)
        {
            try
            {
                result.Add(GuestMount.Parse(m));
            }
            catch (ArgumentException)
            {
                throw new CliException($"-m {m}: expected DEVICE[:MOUNTPOINT] with an absolute mount point (/dev/sda2:/, /dev/vg/lv_var:/var)");
            }
        }

        if (!result.Exists(static m => m.MountPoint == "/"))
        {
            throw new CliException("-m: no file system is mounted at / (give -m DEVICE:/ first, as guestfish needs)");
        }

        return result;
    }

    private static FileSystemImage OpenGuest(string path, DiskImageFile image, bool writable, bool skipJournal, string? partition, List<GuestMount>? mounts = null)
    {
        Guest guest;
        try
        {
            guest = Guest.Open(image.Content, new GuestOpenOptions { Writable = writable, AllowJournalRecoveryNeeded = skipJournal && !writable }, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{path}': {e.Message}");
        }

        try
        {
            return new FileSystemImage(image, mounts is null ? OpenGuestFileSystem(path, guest, writable, partition) : MountExplicitly(path, guest, mounts), guest);
        }
        catch
        {
            guest.Dispose();
            throw;
        }
    }

    private static IFileSystem OpenGuestFileSystem(string path, Guest guest, bool writable, string? partition)
    {
        try
        {
            if (partition is not null)
            {
                return guest.OpenFileSystem(FindVolume(path, guest, partition));
            }

            IReadOnlyList<GuestOperatingSystem> systems = guest.Inspect();
            if (systems.Count == 1)
            {
                return guest.Mount(systems[0]);
            }

            var mountable = guest.Volumes.Where(v => v.IsMountable).ToList();
            if (systems.Count == 0 && mountable.Count == 1)
            {
                return guest.OpenFileSystem(mountable[0]);
            }

            string list = string.Join(", ", guest.Volumes.Select(v => $"{v.Name} ({v.FileSystemTypeName})"));
            throw new CliException(systems.Count == 0
                ? $"'{path}': no operating system found on the disk; pick a file system with --partition N (the volumes are {list})"
                : $"'{path}': {systems.Count} operating systems found (roots {string.Join(", ", systems.Select(s => s.Root))}); pick a file system with --partition N");
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{path}': {e.Message}");
        }
    }

    /// <summary>The view of <c>-m</c> mounts: each device (a partition number is not accepted here; names as <c>filesystems</c> lists them) at its mount point.</summary>
    private static IFileSystem MountExplicitly(string path, Guest guest, List<GuestMount> mounts)
    {
        foreach (GuestMount m in mounts)
        {
            GuestVolume volume = guest.FindVolume(m.Device)
                ?? throw new CliException($"'{path}': -m {m}: {m.Device}: no such device (the volumes are {string.Join(", ", guest.Volumes.Select(v => $"{v.Name} ({v.FileSystemTypeName})"))})");
            if (!volume.IsMountable)
            {
                throw new CliException($"'{path}': -m {m}: {volume.Name} holds no file system that can be mounted (its content is {volume.FileSystemTypeName})");
            }
        }

        try
        {
            return guest.Mount(mounts);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException or ArgumentException)
        {
            throw new CliException($"'{path}': -m: {e.Message}");
        }
    }

    /// <summary>The volume <c>--partition</c> names: a partition number, or a device name.</summary>
    internal static GuestVolume FindVolume(string path, Guest guest, string partition)
    {
        string name = partition.Length > 0 && partition.All(char.IsAsciiDigit) ? Guest.DiskName + partition : partition;
        return guest.FindVolume(name)
            ?? throw new CliException($"'{path}': {partition}: no such partition (the volumes are {string.Join(", ", guest.Volumes.Select(v => $"{v.Name} ({v.FileSystemTypeName})"))})");
    }

    private static XfsFileSystem OpenXfs(string path, DiskImageFile image, bool writable)
    {
        try
        {
            return XfsFileSystem.Open(image.Content, new XfsOpenOptions { Writable = writable }, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{path}': {e.Message}");
        }
    }

    private static FatFileSystem OpenFat(string path, DiskImageFile image, bool writable)
    {
        try
        {
            return FatFileSystem.Open(image.Content, new FatOpenOptions { Writable = writable }, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{path}': {e.Message}");
        }
    }

    /// <summary>Whether the superblock sets needs_recovery (incompatible feature 0x4).</summary>
    private static bool NeedsJournalRecovery(DiskImageFile image)
    {
        Span<byte> incompat = stackalloc byte[4];
        return image.Content.Length >= 2048 && image.Content.Read(1024 + 0x60, incompat) == 4 && (incompat[0] & 0x4) != 0;
    }

    /// <summary>Why the file system cannot be read even without its journal, or null when it can.</summary>
    private static Exception? OpenErrorWithoutJournal(DiskImageFile image)
    {
        try
        {
            Ext4FileSystem.Open(image.Content, new Ext4OpenOptions { AllowJournalRecoveryNeeded = true }, leaveOpen: true).Dispose();
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            return e;
        }
    }

    /// <summary>Flushes the file system and the image.</summary>
    public void Flush()
    {
        FileSystem.Flush();
        _guest?.Flush();
        _image.Flush();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        FileSystem.Dispose();
        _guest?.Dispose();
        _image.Dispose();
    }

    /// <summary>
    /// A failure on a path inside the file system, in the words of the Unix tools
    /// (<c>/etc/x: No such file or directory</c>).
    /// </summary>
    public static CliException GuestError(string path, Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => new CliException($"{path}: No such file or directory"),
        UnauthorizedAccessException => new CliException($"{path}: Is a directory"),
        ArgumentException => new CliException($"{path}: {ImageOpener.Describe(e)}"),
        _ when e.Message.Contains($"'{path}'", StringComparison.Ordinal) => new CliException(e.Message),
        _ => new CliException($"{path}: {e.Message}"),
    };

    /// <summary>Whether <paramref name="e"/> is an error about a path or the data behind it (as opposed to a defect).</summary>
    public static bool IsGuestError(Exception e) =>
        e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException or NotSupportedException;

    /// <summary>Checks that a guest path is absolute, as the file-system verbs require.</summary>
    public static string CheckGuestPath(string path)
    {
        if (path.Length == 0 || path[0] != '/')
        {
            throw new CliException($"{path}: the path inside the image must be absolute (start with '/')");
        }

        return path;
    }

    /// <summary>The entry at <paramref name="path"/>, or a <see cref="CliException"/> in the Unix tools' words.</summary>
    public UnixFileInfo GetEntry(string path)
    {
        try
        {
            return FileSystem.GetEntry(CheckGuestPath(path));
        }
        catch (Exception e) when (IsGuestError(e))
        {
            throw GuestError(path, e);
        }
    }
}
