using System.Runtime.InteropServices;
using DiskImage.Archives.Cpio;
using DiskImage.Interop;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.FileSystems;

/// <summary>
/// Writes entries under a host directory without ever following a symbolic link that exists there:
/// new files are created exclusively, existing non-directories are unlinked first, and only
/// directories this writer created or found to be real directories are descended into.
/// </summary>
internal static partial class HostTreeWriter
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>What an existing host path is, without following a final symbolic link.</summary>
    public enum Kind
    {
        /// <summary>Nothing there.</summary>
        None,

        /// <summary>A symbolic link (possibly dangling).</summary>
        SymbolicLink,

        /// <summary>A real directory.</summary>
        Directory,

        /// <summary>A file, device node, FIFO or socket.</summary>
        Other,
    }

    /// <summary>Classifies <paramref name="path"/> like <c>lstat</c>.</summary>
    public static Kind GetKind(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            return info.LinkTarget is not null ? Kind.SymbolicLink : info.Exists ? Kind.Other : Directory.Exists(path) ? Kind.Directory : Kind.None;
        }

        if (!UnixNative.TryLStat(path, out UnixStat st))
        {
            return Kind.None;
        }

        return st.FileType switch
        {
            UnixFileType.SymbolicLink => Kind.SymbolicLink,
            UnixFileType.Directory => Kind.Directory,
            _ => Kind.Other,
        };
    }

    /// <summary>Makes room for a new non-directory at <paramref name="path"/>: unlinks a file or link, removes an empty directory.</summary>
    /// <exception cref="IOException">A non-empty directory is in the way.</exception>
    public static void RemoveExisting(string path)
    {
        switch (GetKind(path))
        {
            case Kind.SymbolicLink or Kind.Other:
                Check(Unlink(path), "unlink", path);
                break;
            case Kind.Directory:
                if (Rmdir(path) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    throw errno is ENotEmpty or EExist
                        ? new IOException($"Cannot replace the non-empty directory '{path}'.")
                        : Error("rmdir", path, errno);
                }

                break;
        }
    }

    /// <summary>Ensures a real directory exists at <paramref name="path"/>, replacing a file or symbolic link there.</summary>
    public static void EnsureDirectory(string path)
    {
        Kind kind = GetKind(path);
        if (kind == Kind.Directory)
        {
            return;
        }

        if (kind != Kind.None)
        {
            Check(Unlink(path), "unlink", path);
        }

        Check(Mkdir(path, 0x1FF), "mkdir", path);
        if (GetKind(path) != Kind.Directory)
        {
            throw new IOException($"'{path}' changed while it was being created.");
        }
    }

    /// <summary>
    /// Creates a new regular file for writing (<c>O_CREAT|O_EXCL|O_NOFOLLOW</c>: never through a symbolic link, never
    /// over an existing entry), its name passed to the host as the bytes <see cref="UnixPathEncoding"/> gives.
    /// </summary>
    public static FileStream CreateFile(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
        }

        int fd = Open(path, OWrOnly | OCreat | OExcl | ONoFollow | OCloExec, 0x1B6);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == EExist ? new IOException($"'{path}' exists already.", errno) : Error("open", path, errno);
        }

        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, 1);
    }

    /// <summary>Opens an existing regular file for writing, never through a final symbolic link.</summary>
    public static FileStream OpenWrite(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None, 1);
        }

        int fd = Open(path, OWrOnly | ONoFollow | OCloExec, 0);
        if (fd < 0)
        {
            throw Error("open", path, Marshal.GetLastPInvokeError());
        }

        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, 1);
    }

    /// <summary>Sets the modification time (whole seconds) and leaves the access time, not following a symbolic link.</summary>
    public static void SetModificationTime(string path, long seconds)
    {
        if (OperatingSystem.IsLinux() && Environment.Is64BitProcess)
        {
            try
            {
                if (SetTimesNative(path, 0, UtimeOmit, seconds, 0))
                {
                    return;
                }
            }
            catch (EntryPointNotFoundException)
            {
            }
            catch (DllNotFoundException)
            {
            }
        }

        if (GetKind(path) == Kind.Directory)
        {
            Directory.SetLastWriteTimeUtc(path, DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime);
        }
        else
        {
            File.SetLastWriteTimeUtc(path, DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime);
        }
    }

    /// <summary>Opens an existing regular file (not through a final symbolic link) for reading.</summary>
    public static FileStream OpenRead(string path) =>
        OperatingSystem.IsLinux()
            ? new FileStream(UnixNative.OpenNoAtime(path, directory: false), FileAccess.Read, 1)
            : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);

    /// <summary>Creates a symbolic link at <paramref name="path"/> holding <paramref name="target"/> (both as raw bytes).</summary>
    public static void CreateSymbolicLink(string path, string target)
    {
        if (!OperatingSystem.IsLinux())
        {
            File.CreateSymbolicLink(path, target);
            return;
        }

        Check(Symlink(target, path), "symlink", path);
    }

    /// <summary>Sets the permission bits (the low 12 bits of <paramref name="mode"/>) of an entry this writer created.</summary>
    public static void SetMode(string path, int mode)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, (UnixFileMode)(mode & 0xFFF));
            }

            return;
        }

        Check(FChmodAt(AtFdCwd, path, (uint)(mode & 0xFFF), 0), "chmod", path);
    }

    /// <summary>Whether <paramref name="path"/> is a directory (following symbolic links), by its raw bytes.</summary>
    public static bool DirectoryExists(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return Directory.Exists(path);
        }

        if (!UnixNative.TryLStat(path, out UnixStat st))
        {
            return false;
        }

        return st.FileType == UnixFileType.Directory ||
            (st.FileType == UnixFileType.SymbolicLink && UnixNative.TryLStat(path + "/.", out st) && st.FileType == UnixFileType.Directory);
    }

    private static void Check(int rc, string call, string path)
    {
        if (rc != 0)
        {
            throw Error(call, path, Marshal.GetLastPInvokeError());
        }
    }

    private static IOException Error(string call, string path, int errno) =>
        new($"{call}('{path}') failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno);

    private const int OWrOnly = 0x1;
    private const int OCreat = 0x40;
    private const int OExcl = 0x80;
    private const int ONoFollow = 0x20000;
    private const int OCloExec = 0x80000;
    private const int EExist = 17;
    private const int UtimeOmit = (1 << 30) - 2;
    private const int ENotEmpty = 39;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mkdir", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Mkdir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "unlink", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "rmdir", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Rmdir(string path);

    [LibraryImport("libc", EntryPoint = "symlink", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Symlink(string target, string path);

    [LibraryImport("libc", EntryPoint = "fchmodat", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int FChmodAt(int dirfd, string path, uint mode, int flags);

    /// <summary>Sets the owner of an entry, not following a symbolic link; false when refused.</summary>
    public static bool TrySetOwner(string path, uint userId, uint groupId) => UnixNative.TryLChown(path, userId, groupId);

    /// <summary>Creates a device node or FIFO; false when refused (e.g. devices without root).</summary>
    public static bool TryCreateNode(string path, UnixFileType type, int mode, int major, int minor) =>
        UnixNative.TryMknod(path, (uint)type | ((uint)mode & 0xFFF), (uint)major, (uint)minor);

    /// <summary>Creates a hard link; false when the host refuses.</summary>
    public static bool TryLink(string existing, string newPath) => UnixNative.TryLink(existing, newPath);

    /// <summary>Sets access and modification times with nanoseconds, not following a symbolic link.</summary>
    public static void SetTimes(string path, UnixTime accessTime, UnixTime modificationTime, bool isSymbolicLink)
    {
        if (OperatingSystem.IsLinux() && Environment.Is64BitProcess)
        {
            try
            {
                if (SetTimesNative(path, accessTime.Seconds, accessTime.Nanoseconds, modificationTime.Seconds, modificationTime.Nanoseconds))
                {
                    return;
                }
            }
            catch (EntryPointNotFoundException)
            {
            }
            catch (DllNotFoundException)
            {
            }
        }

        if (!isSymbolicLink)
        {
            try
            {
                File.SetLastAccessTimeUtc(path, accessTime.ToDateTimeOffset().UtcDateTime);
                File.SetLastWriteTimeUtc(path, modificationTime.ToDateTimeOffset().UtcDateTime);
            }
            catch (ArgumentOutOfRangeException)
            {
                // A time DateTime cannot represent: leave the current one.
            }
        }
    }

    private static unsafe bool SetTimesNative(string path, long accessSeconds, long accessNanoseconds, long modificationSeconds, long modificationNanoseconds)
    {
        // struct timespec[2] on 64-bit Linux: { tv_sec, tv_nsec } pairs of 64-bit values.
        long* times = stackalloc long[4];
        times[0] = accessSeconds;
        times[1] = accessNanoseconds;
        times[2] = modificationSeconds;
        times[3] = modificationNanoseconds;
        return UtimensAt(AtFdCwd, path, times, AtSymlinkNoFollow) == 0;
    }

    [LibraryImport("libc", EntryPoint = "utimensat", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static unsafe partial int UtimensAt(int dirfd, string path, long* times, int flags);
}
