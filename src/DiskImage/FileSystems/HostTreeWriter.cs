using System.Runtime.InteropServices;
using DiskImage.Archives.Cpio;
using DiskImage.Interop;

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
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            return Kind.SymbolicLink;
        }

        if (info.Exists)
        {
            return Kind.Other;
        }

        return Directory.Exists(path) ? Kind.Directory : Kind.None;
    }

    /// <summary>Makes room for a new non-directory at <paramref name="path"/>: unlinks a file or link, removes an empty directory.</summary>
    /// <exception cref="IOException">A non-empty directory is in the way.</exception>
    public static void RemoveExisting(string path)
    {
        switch (GetKind(path))
        {
            case Kind.SymbolicLink or Kind.Other:
                File.Delete(path);
                break;
            case Kind.Directory:
                if (Directory.EnumerateFileSystemEntries(path).Any())
                {
                    throw new IOException($"Cannot replace the non-empty directory '{path}'.");
                }

                Directory.Delete(path);
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
            File.Delete(path);
        }

        Directory.CreateDirectory(path);
        if (GetKind(path) != Kind.Directory)
        {
            throw new IOException($"'{path}' changed while it was being created.");
        }
    }

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
                if (SetTimesNative(path, accessTime, modificationTime))
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

    private static unsafe bool SetTimesNative(string path, UnixTime accessTime, UnixTime modificationTime)
    {
        // struct timespec[2] on 64-bit Linux: { tv_sec, tv_nsec } pairs of 64-bit values.
        long* times = stackalloc long[4];
        times[0] = accessTime.Seconds;
        times[1] = accessTime.Nanoseconds;
        times[2] = modificationTime.Seconds;
        times[3] = modificationTime.Nanoseconds;
        return UtimensAt(AtFdCwd, path, times, AtSymlinkNoFollow) == 0;
    }

    [LibraryImport("libc", EntryPoint = "utimensat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int UtimensAt(int dirfd, string path, long* times, int flags);
}
