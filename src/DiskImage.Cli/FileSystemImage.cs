using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Fat;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats;

namespace DiskImage.Cli;

/// <summary>
/// An image (raw or qcow2) holding a bare ext4 or XFS file system (no partition table), opened for the
/// file-system verbs (<c>ls</c>, <c>cat</c>, <c>copy-out</c>, <c>copy-in</c>).
/// </summary>
internal sealed class FileSystemImage : IDisposable
{
    private readonly DiskImageFile _image;

    private FileSystemImage(DiskImageFile image, IFileSystem fileSystem)
    {
        _image = image;
        FileSystem = fileSystem;
    }

    /// <summary>The file system.</summary>
    public IFileSystem FileSystem { get; }

    /// <summary>Opens <paramref name="path"/> and the ext4 file system in its content.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="format">The <c>-f</c> format name, or null to detect.</param>
    /// <param name="writable">Open the image and the file system for writing.</param>
    /// <exception cref="CliException">The image cannot be opened or holds no usable ext4 file system.</exception>
    /// <param name="skipJournal">Read a file system whose journal needs recovery as it is (read-only verbs).</param>
    public static FileSystemImage Open(string path, string? format, bool writable, bool skipJournal = false)
    {
        if (Directory.Exists(path))
        {
            throw new CliException($"'{path}': Is a directory (give the image file that holds the file system)");
        }

        DiskImageFile image = ImageOpener.Open(path, format, writable, followBacking: true);
        try
        {
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
                throw new CliException($"'{path}': no ext4 or XFS file system found, nor FAT (the image must hold a bare file system; partition tables are not supported yet)");
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
        _image.Flush();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        FileSystem.Dispose();
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
