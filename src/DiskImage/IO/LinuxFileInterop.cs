using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.IO;

/// <summary>
/// The few Linux file calls the BCL does not expose: SEEK_DATA/SEEK_HOLE, hole punching and the
/// allocated block count. Used only on 64-bit Linux, where <c>off_t</c> is 64 bits; every caller
/// falls back to portable behaviour when a call is missing or refused.
/// </summary>
internal static partial class LinuxFileInterop
{
    private const string LibC = "libc";

    public const int SeekData = 3;
    public const int SeekHole = 4;
    public const int FallocKeepSize = 0x01;
    public const int FallocPunchHole = 0x02;
    public const int ENXIO = 6;

    private const int AtEmptyPath = 0x1000;
    private const uint StatxBlocks = 0x400;
    private const int StatxSize = 256;
    private const int StatxBlocksOffset = 48;

    private static volatile bool s_unavailable = !(OperatingSystem.IsLinux() && Environment.Is64BitProcess);

    /// <summary>Whether the calls may be used in this process (64-bit Linux with a C library that exports them).</summary>
    public static bool IsSupported => !s_unavailable;

    /// <summary>Records that the C library or one of its entry points is missing, so later calls are not attempted.</summary>
    public static void MarkUnavailable() => s_unavailable = true;

    [LibraryImport(LibC, EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport(LibC, EntryPoint = "copy_file_range", SetLastError = true)]
    private static unsafe partial nint CopyFileRangeNative(SafeFileHandle fdIn, long* offIn, SafeFileHandle fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport(LibC, EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FAllocate(SafeFileHandle fd, int mode, long offset, long length);

    // Returns the error number itself (0 on success), not -1 and errno.
    [LibraryImport(LibC, EntryPoint = "posix_fadvise")]
    private static partial int PosixFAdvise(SafeFileHandle fd, long offset, long length, int advice);

    private const int FAdviseDontNeed = 4;

    [LibraryImport(LibC, EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    private const uint RenameExchange = 2;

    [LibraryImport(LibC, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatX(SafeFileHandle dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(LibC, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatXPath(int dirfd, string path, int flags, uint mask, byte* buffer);

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int FileTypeMask = 0xF000;

    /// <summary>S_IFREG: a regular file.</summary>
    public const int RegularFile = 0x8000;

    /// <summary>S_IFBLK: a block device.</summary>
    public const int BlockDeviceFile = 0x6000;

    private const int SeekEnd = 2;
    private const ulong BlkZeroOut = 0x127F;

    [LibraryImport(LibC, EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int IoctlRange(SafeFileHandle fd, ulong request, ulong* range);

    /// <summary>The file type bits (S_IFMT) of an open file, or -1 when unknown.</summary>
    public static unsafe int GetFileType(SafeFileHandle handle)
    {
        if (s_noStatx || s_unavailable)
        {
            return -1;
        }

        byte* buffer = stackalloc byte[StatxSize];
        new Span<byte>(buffer, StatxSize).Clear();
        try
        {
            if (StatX(handle, string.Empty, AtEmptyPath, StatxType, buffer) != 0 || (*(uint*)buffer & StatxType) == 0)
            {
                return -1;
            }
        }
        catch (EntryPointNotFoundException)
        {
            s_noStatx = true;
            return -1;
        }
        catch (DllNotFoundException)
        {
            s_unavailable = true;
            return -1;
        }

        return *(ushort*)(buffer + StatxModeOffset) & FileTypeMask;
    }

    /// <summary>The size of a block device (lseek to its end), or -errno.</summary>
    public static long GetDeviceSize(SafeFileHandle handle) => Seek(handle, 0, SeekEnd);

    /// <summary>Zeroes a 512-byte aligned range of a block device (BLKZEROOUT); returns 0 or errno.</summary>
    public static unsafe int ZeroDeviceRange(SafeFileHandle handle, long offset, long length)
    {
        ulong* range = stackalloc ulong[2];
        range[0] = (ulong)offset;
        range[1] = (ulong)length;
        return IoctlRange(handle, BlkZeroOut, range) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>The file type bits (S_IFMT) of <paramref name="path"/>, following symbolic links, or -1 when unknown.</summary>
    public static unsafe int GetFileType(string path)
    {
        if (s_noStatx || s_unavailable)
        {
            return -1;
        }

        byte* buffer = stackalloc byte[StatxSize];
        new Span<byte>(buffer, StatxSize).Clear();
        try
        {
            if (StatXPath(AtFdCwd, path, 0, StatxType, buffer) != 0 || (*(uint*)buffer & StatxType) == 0)
            {
                return -1;
            }
        }
        catch (EntryPointNotFoundException)
        {
            s_noStatx = true;
            return -1;
        }
        catch (DllNotFoundException)
        {
            s_unavailable = true;
            return -1;
        }

        return *(ushort*)(buffer + StatxModeOffset) & FileTypeMask;
    }

    /// <summary>lseek with SEEK_DATA/SEEK_HOLE; returns the position, or -errno.</summary>
    public static long Seek(SafeFileHandle handle, long offset, int whence)
    {
        long r = LSeek(handle, offset, whence);
        return r >= 0 ? r : -Marshal.GetLastPInvokeError();
    }

    private static volatile bool s_noCopyFileRange;

    /// <summary>
    /// copy_file_range from <paramref name="source"/> at <paramref name="sourceOffset"/> to <paramref name="target"/> at
    /// <paramref name="targetOffset"/> (the kernel copies; neither file position moves): the bytes copied (0 at the
    /// source's end), or -errno; -ENOSYS when the call is missing.
    /// </summary>
    public static unsafe long CopyFileRange(SafeFileHandle source, long sourceOffset, SafeFileHandle target, long targetOffset, long length)
    {
        const int ENoSys = 38;
        if (s_noCopyFileRange || s_unavailable)
        {
            return -ENoSys;
        }

        try
        {
            nint r = CopyFileRangeNative(source, &sourceOffset, target, &targetOffset, (nuint)length, 0);
            return r >= 0 ? r : -Marshal.GetLastPInvokeError();
        }
        catch (EntryPointNotFoundException)
        {
            s_noCopyFileRange = true;
            return -ENoSys;
        }
        catch (DllNotFoundException)
        {
            s_unavailable = true;
            return -ENoSys;
        }
    }

    /// <summary>Allocates a range (unwritten extents that read as zeros, growing the file); returns 0 or errno.</summary>
    public static int Allocate(SafeFileHandle handle, long offset, long length) =>
        FAllocate(handle, 0, offset, length) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>Deallocates a range keeping the file size; returns 0 or errno.</summary>
    public static int PunchHole(SafeFileHandle handle, long offset, long length) =>
        FAllocate(handle, FallocPunchHole | FallocKeepSize, offset, length) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// Drops the file's clean pages from the page cache (posix_fadvise POSIX_FADV_DONTNEED over the
    /// whole file; dirty pages are queued for write-back, not dropped); returns 0 or errno.
    /// </summary>
    public static int DropCache(SafeFileHandle handle) => PosixFAdvise(handle, 0, 0, FAdviseDontNeed);

    /// <summary>
    /// Swaps two existing names atomically (renameat2 RENAME_EXCHANGE); returns 0, or errno
    /// (EINVAL or ENOSYS where the file system or kernel cannot, ENOENT when either is missing).
    /// </summary>
    public static int ExchangeNames(string path1, string path2)
    {
        try
        {
            return RenameAt2(AtFdCwd, path1, AtFdCwd, path2, RenameExchange) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        catch (EntryPointNotFoundException)
        {
            // C libraries older than glibc 2.28 have no renameat2 wrapper.
            return ENOSYS;
        }
    }

    private const int ENOSYS = 38;

    private static volatile bool s_noStatx;

    /// <summary>Bytes allocated to the file (st_blocks × 512), or -1 when unknown.</summary>
    public static long GetAllocatedBytes(SafeFileHandle handle)
    {
        if (s_noStatx)
        {
            return -1;
        }

        try
        {
            return StatxAllocatedBytes(handle);
        }
        catch (EntryPointNotFoundException)
        {
            // C libraries older than glibc 2.28 have no statx wrapper.
            s_noStatx = true;
            return -1;
        }
    }

    private static unsafe long StatxAllocatedBytes(SafeFileHandle handle)
    {
        // struct statx has the same layout on every architecture, unlike struct stat.
        byte* buffer = stackalloc byte[StatxSize];
        new Span<byte>(buffer, StatxSize).Clear();
        if (StatX(handle, string.Empty, AtEmptyPath, StatxBlocks, buffer) != 0)
        {
            return -1;
        }

        uint mask = *(uint*)buffer;
        if ((mask & StatxBlocks) == 0)
        {
            return -1;
        }

        ulong blocks = *(ulong*)(buffer + StatxBlocksOffset);
        return blocks > long.MaxValue / 512 ? -1 : (long)blocks * 512;
    }
}
