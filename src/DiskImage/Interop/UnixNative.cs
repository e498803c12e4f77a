using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DiskImage.FileSystems;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.Interop;

/// <summary>
/// The Linux calls the BCL does not expose, for reading host trees and recreating them: <c>statx</c> (ids, inode,
/// device numbers, all times with nanoseconds), <c>llistxattr</c>/<c>lgetxattr</c>, <c>readlink</c> (none of which
/// follow a final symbolic link), <c>getdents64</c>, <c>open</c> with <c>O_NOATIME</c>, <c>lseek</c> with
/// <c>SEEK_DATA</c>/<c>SEEK_HOLE</c>, and <c>link</c>, <c>mknod</c>, <c>lchown</c>. Source-generated
/// (<c>LibraryImport</c>), so trimming- and AOT-safe.
/// </summary>
internal static partial class UnixNative
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7FF;
    private const uint StatxBirthTime = 0x800;
    private const int ERange = 34;
    private const int ENoData = 61;
    private const int ENotSup = 95;
    private const int ENoEnt = 2;
    private const int ENotDir = 20;

    /// <summary>Whether the calls exist here (Linux only).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>lstat with nanosecond times; false when the entry does not exist (or a component is not a directory).</summary>
    /// <exception cref="IOException">Any other failure.</exception>
    public static unsafe bool TryLStat(string path, out UnixStat stat)
    {
        stat = default;
        byte* buffer = stackalloc byte[256];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats | StatxBirthTime, buffer);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new PlatformNotSupportedException("The C library has no statx (glibc 2.28 or later is needed).", e);
        }

        if (rc != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is ENoEnt or ENotDir)
            {
                return false;
            }

            throw Error("statx", path, errno);
        }

        var s = new ReadOnlySpan<byte>(buffer, 256);
        uint mask = BinaryPrimitives.ReadUInt32LittleEndian(s);
        stat = new UnixStat(
            NLink: BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
            Gid: BinaryPrimitives.ReadUInt32LittleEndian(s[24..]),
            Mode: BinaryPrimitives.ReadUInt16LittleEndian(s[28..]),
            Inode: BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
            Size: BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
            Blocks: BinaryPrimitives.ReadInt64LittleEndian(s[48..]),
            AccessTime: Time(s[64..]),
            BirthTime: (mask & StatxBirthTime) != 0 ? Time(s[80..]) : null,
            ChangeTime: Time(s[96..]),
            ModificationTime: Time(s[112..]),
            RDevMajor: BinaryPrimitives.ReadUInt32LittleEndian(s[128..]),
            RDevMinor: BinaryPrimitives.ReadUInt32LittleEndian(s[132..]),
            DevMajor: BinaryPrimitives.ReadUInt32LittleEndian(s[136..]),
            DevMinor: BinaryPrimitives.ReadUInt32LittleEndian(s[140..]));
        return true;
    }

    private static UnixTime Time(ReadOnlySpan<byte> t)
    {
        uint ns = BinaryPrimitives.ReadUInt32LittleEndian(t[8..]);
        return new UnixTime(BinaryPrimitives.ReadInt64LittleEndian(t), (int)Math.Min(ns, 999_999_999u));
    }

    /// <summary>The target of a symbolic link, its bytes decoded by <see cref="UnixPathEncoding"/>.</summary>
    public static unsafe string ReadLink(string path)
    {
        int size = 256;
        while (true)
        {
            byte[] buf = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                nint n;
                fixed (byte* p = buf)
                {
                    n = ReadLinkCore(path, p, buf.Length);
                }

                if (n < 0)
                {
                    throw Error("readlink", path, Marshal.GetLastPInvokeError());
                }

                if (n < buf.Length)
                {
                    return UnixPathEncoding.GetString(buf.AsSpan(0, (int)n));
                }

                size = buf.Length * 2;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buf);
            }
        }
    }

    /// <summary>All extended attributes of an entry (not following a final symbolic link), keyed by full name.</summary>
    public static unsafe Dictionary<string, byte[]> ListXattrs(string path)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        byte[] names = [];
        while (true)
        {
            nint n = LListXattr(path, null, 0);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ENotSup)
                {
                    return result;
                }

                throw Error("llistxattr", path, errno);
            }

            if (n == 0)
            {
                return result;
            }

            names = new byte[n];
            fixed (byte* p = names)
            {
                n = LListXattr(path, p, names.Length);
            }

            if (n >= 0)
            {
                names = names.AsSpan(0, (int)n).ToArray();
                break;
            }

            if (Marshal.GetLastPInvokeError() != ERange)
            {
                throw Error("llistxattr", path, Marshal.GetLastPInvokeError());
            }
        }

        int start = 0;
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i] != 0)
            {
                continue;
            }

            if (i > start)
            {
                string name = UnixPathEncoding.GetString(names.AsSpan(start, i - start));
                byte[]? value = GetXattr(path, name);
                if (value is not null)
                {
                    result[name] = value;
                }
            }

            start = i + 1;
        }

        return result;
    }

    private static unsafe byte[]? GetXattr(string path, string name)
    {
        while (true)
        {
            nint n = LGetXattr(path, name, null, 0);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno == ENoData ? null : throw Error("lgetxattr", path, errno);
            }

            byte[] value = new byte[n];
            if (n == 0)
            {
                return value;
            }

            fixed (byte* p = value)
            {
                n = LGetXattr(path, name, p, value.Length);
            }

            if (n >= 0)
            {
                return n == value.Length ? value : value.AsSpan(0, (int)n).ToArray();
            }

            int e = Marshal.GetLastPInvokeError();
            if (e == ENoData)
            {
                return null;
            }

            if (e != ERange)
            {
                throw Error("lgetxattr", path, e);
            }
        }
    }

    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;
    private const int ONoAtime = 0x40000;
    private const int OCloExec = 0x80000;
    private const int ONoFollow = 0x20000;
    private const int ONonBlock = 0x800;
    private const int EPerm = 1;

    /// <summary>
    /// Opens for reading without updating the access time (<c>O_NOATIME</c>, allowed to the owner and root; without
    /// it otherwise), so that reading a tree twice (size, then build) sees the same times.
    /// </summary>
    public static SafeFileHandle OpenNoAtime(string path, bool directory) => OpenNoAtime(path, directory, listedFile: false);

    /// <summary>
    /// As <see cref="OpenNoAtime(string, bool)"/>; with <paramref name="listedFile"/> (an entry just listed) a final
    /// symbolic link is not followed (<c>O_NOFOLLOW</c>) and a FIFO swapped in meanwhile does not block (<c>O_NONBLOCK</c>).
    /// </summary>
    public static SafeFileHandle OpenNoAtime(string path, bool directory, bool listedFile)
    {
        int flags = ORdOnly | OCloExec | (directory ? ODirectory : 0) | (listedFile ? ONoFollow | ONonBlock : 0);
        int fd = Open(path, flags | ONoAtime);
        if (fd < 0 && Marshal.GetLastPInvokeError() == EPerm)
        {
            fd = Open(path, flags);
        }

        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno is ENoEnt or ENotDir
                ? new FileNotFoundException($"open('{path}') failed: {Marshal.GetPInvokeErrorMessage(errno)}.", path)
                : Error("open", path, errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>The names in a directory (without "." and ".."), read with <c>getdents64</c>.</summary>
    /// <param name="path">The directory.</param>
    /// <param name="listed">Whether <paramref name="path"/> was just listed as a directory: a final symbolic link is then refused, not followed.</param>
    public static unsafe List<string> ReadDirectory(string path, bool listed = false)
    {
        var names = new List<string>();
        using SafeFileHandle dir = OpenNoAtime(path, directory: true, listedFile: listed);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                nint n;
                fixed (byte* p = buffer)
                {
                    n = GetDents64((int)dir.DangerousGetHandle(), p, (nuint)buffer.Length);
                }

                if (n < 0)
                {
                    throw Error("getdents64", path, Marshal.GetLastPInvokeError());
                }

                if (n == 0)
                {
                    return names;
                }

                int off = 0;
                while (off + 19 < n)
                {
                    // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name (NUL-terminated).
                    int reclen = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(off + 16));
                    if (reclen < 20 || off + reclen > n)
                    {
                        throw new IOException($"getdents64('{path}') returned a malformed record.");
                    }

                    ReadOnlySpan<byte> name = buffer.AsSpan(off + 19, reclen - 19);
                    int nul = name.IndexOf((byte)0);
                    if (nul >= 0)
                    {
                        name = name[..nul];
                    }

                    if (!(name.Length == 1 && name[0] == '.') && !(name.Length == 2 && name[0] == '.' && name[1] == '.'))
                    {
                        names.Add(UnixPathEncoding.GetString(name));
                    }

                    off += reclen;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The data ranges (offset, length) of a file by <c>SEEK_DATA</c>/<c>SEEK_HOLE</c>, up to <paramref name="size"/>;
    /// null when the host file system cannot tell (then the whole file counts as data).
    /// </summary>
    public static List<(long Offset, long Length)>? GetDataRanges(string path, long size)
    {
        using SafeFileHandle file = OpenNoAtime(path, directory: false);
        int fd = (int)file.DangerousGetHandle();
        var ranges = new List<(long Offset, long Length)>();
        long pos = 0;
        while (pos < size)
        {
            long data = LSeek(fd, pos, SeekData);
            if (data < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ENxio)
                {
                    break;
                }

                return null;
            }

            if (data >= size)
            {
                break;
            }

            long hole = LSeek(fd, data, SeekHole);
            if (hole < 0)
            {
                return null;
            }

            hole = Math.Min(hole, size);
            ranges.Add((data, hole - data));
            pos = hole;
        }

        return ranges;
    }

    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int ENxio = 6;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    private static unsafe partial nint GetDents64(int fd, byte* buffer, nuint count);

    private static IOException Error(string call, string path, int errno) =>
        new($"{call}('{path}') failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", errno);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "readlink", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static unsafe partial nint ReadLinkCore(string path, byte* buffer, nint size);

    [LibraryImport("libc", EntryPoint = "llistxattr", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static unsafe partial nint LListXattr(string path, byte* list, nint size);

    [LibraryImport("libc", EntryPoint = "lgetxattr", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static unsafe partial nint LGetXattr(string path, string name, byte* value, nint size);

    /// <summary><c>link(2)</c>; false when it fails or the platform has no such call.</summary>
    public static bool TryLink(string existing, string newPath) => IsSupported && Link(existing, newPath) == 0;

    /// <summary><c>mknod(2)</c> with the device number in glibc's 64-bit <c>dev_t</c> encoding; false when it fails.</summary>
    public static bool TryMknod(string path, uint mode, uint major, uint minor)
    {
        if (!IsSupported)
        {
            return false;
        }

        ulong dev = ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);
        return Mknod(path, mode, dev) == 0;
    }

    /// <summary><c>lchown(2)</c> (does not follow a final symbolic link); false when it fails.</summary>
    public static bool TryLChown(string path, uint uid, uint gid) => IsSupported && LChown(path, uid, gid) == 0;

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "mknod", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int Mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(UnixPathMarshaller), SetLastError = true)]
    private static partial int LChown(string path, uint uid, uint gid);
}

/// <summary>The fields of <c>struct statx</c> (basic stats and birth time) for one entry, not following a final symbolic link.</summary>
internal readonly record struct UnixStat(
    uint NLink, uint Uid, uint Gid, ushort Mode, ulong Inode, long Size, long Blocks,
    UnixTime AccessTime, UnixTime? BirthTime, UnixTime ChangeTime, UnixTime ModificationTime,
    uint RDevMajor, uint RDevMinor, uint DevMajor, uint DevMinor)
{
    /// <summary>The file-type bits of the mode (<c>S_IFMT</c>).</summary>
    public int Type => Mode & 0xF000;

    /// <summary>The entry's type.</summary>
    public UnixFileType FileType => (UnixFileType)(Mode & 0xF000);

    /// <summary>The whole seconds of the modification time.</summary>
    public long MTimeSeconds => ModificationTime.Seconds;
}
