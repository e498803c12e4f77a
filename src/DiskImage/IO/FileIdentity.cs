using System.Runtime.InteropServices;

namespace DiskImage.IO;

/// <summary>
/// Which file a path names: its device and inode on Linux (so symbolic links, hard links, bind
/// mounts, <c>/proc/self/fd/N</c> and relative spellings of one file compare equal), or its fully
/// resolved path elsewhere. Used to refuse writing a target that is also an input.
/// </summary>
internal readonly partial struct FileIdentity : IEquatable<FileIdentity>
{
    private const uint StatxType = 0x1;
    private const uint StatxIno = 0x100;
    private const int StatxSize = 256;
    private const int StatxInoOffset = 32;
    private const int StatxDevMajorOffset = 136;
    private const int StatxDevMinorOffset = 140;
    private const int AtFdCwd = -100;

    private static volatile bool s_noStatx = !(OperatingSystem.IsLinux() && Environment.Is64BitProcess);

    private readonly ulong _device;
    private readonly ulong _inode;
    private readonly string? _path;

    private FileIdentity(ulong device, ulong inode, string? path)
    {
        _device = device;
        _inode = inode;
        _path = path;
    }

    /// <summary>
    /// The identity of the file <paramref name="path"/> names, following symbolic links; false when
    /// nothing exists there (a target about to be created is no input).
    /// </summary>
    public static bool TryGet(string path, out FileIdentity identity)
    {
        identity = default;
        if (string.IsNullOrEmpty(path))
        {
            return false;
        }

        if (!s_noStatx && TryStatx(path, out ulong device, out ulong inode, out bool exists))
        {
            if (exists)
            {
                identity = new FileIdentity(device, inode, null);
            }

            return exists;
        }

        // Portable fallback: the full path with every symbolic link resolved.
        string full = Path.GetFullPath(path);
        try
        {
            if (File.ResolveLinkTarget(full, returnFinalTarget: true) is { } target)
            {
                full = target.FullName;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        if (!File.Exists(full) && !Directory.Exists(full))
        {
            return false;
        }

        identity = new FileIdentity(0, 0, full);
        return true;
    }

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name the same existing file.</summary>
    public static bool SameFile(string a, string b) =>
        TryGet(a, out FileIdentity x) && TryGet(b, out FileIdentity y) && x.Equals(y);

    /// <inheritdoc />
    public bool Equals(FileIdentity other) =>
        _path is null
            ? other._path is null && _device == other._device && _inode == other._inode
            : other._path is not null && string.Equals(_path, other._path, OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is FileIdentity other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => _path is null ? HashCode.Combine(_device, _inode) : StringComparer.OrdinalIgnoreCase.GetHashCode(_path);

    /// <summary>Equality of identities.</summary>
    public static bool operator ==(FileIdentity left, FileIdentity right) => left.Equals(right);

    /// <summary>Inequality of identities.</summary>
    public static bool operator !=(FileIdentity left, FileIdentity right) => !left.Equals(right);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatX(int dirfd, string path, int flags, uint mask, byte* buffer);

    // statx(2) has the same layout on every architecture: stx_ino at 32, stx_dev_major/minor at 136/140.
    private static unsafe bool TryStatx(string path, out ulong device, out ulong inode, out bool exists)
    {
        device = 0;
        inode = 0;
        exists = false;
        byte* buffer = stackalloc byte[StatxSize];
        new Span<byte>(buffer, StatxSize).Clear();
        int result;
        try
        {
            result = StatX(AtFdCwd, path, 0, StatxType | StatxIno, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            s_noStatx = true;
            return false;
        }
        catch (DllNotFoundException)
        {
            s_noStatx = true;
            return false;
        }

        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            const int ENOENT = 2;
            const int ENOTDIR = 20;
            const int ENOSYS = 38;
            if (errno == ENOSYS)
            {
                s_noStatx = true;
                return false;
            }

            // Nothing there (or a dangling link): not an input. Any other failure falls back to paths.
            return errno is ENOENT or ENOTDIR;
        }

        if ((*(uint*)buffer & StatxIno) == 0)
        {
            return false;
        }

        inode = *(ulong*)(buffer + StatxInoOffset);
        device = ((ulong)*(uint*)(buffer + StatxDevMajorOffset) << 32) | *(uint*)(buffer + StatxDevMinorOffset);
        exists = true;
        return true;
    }
}
