using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace DiskImage.Archives.Cpio;

/// <summary>The few Linux calls the BCL does not expose: <c>statx</c> (ids, inode, rdev), <c>link</c>, <c>mknod</c>, <c>lchown</c>.</summary>
internal static partial class UnixNative
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7FF;

    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>lstat-like metadata; false when the call is unavailable or fails.</summary>
    public static unsafe bool TryLStat(string path, out UnixStat stat)
    {
        stat = default;
        if (!IsSupported)
        {
            return false;
        }

        byte* buffer = stackalloc byte[256];
        try
        {
            if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
            {
                return false;
            }
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        catch (DllNotFoundException)
        {
            return false;
        }

        var s = new ReadOnlySpan<byte>(buffer, 256);
        stat = new UnixStat(
            NLink: BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
            Gid: BinaryPrimitives.ReadUInt32LittleEndian(s[24..]),
            Mode: BinaryPrimitives.ReadUInt16LittleEndian(s[28..]),
            Inode: BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
            Size: BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
            MTimeSeconds: BinaryPrimitives.ReadInt64LittleEndian(s[112..]),
            RDevMajor: BinaryPrimitives.ReadUInt32LittleEndian(s[128..]),
            RDevMinor: BinaryPrimitives.ReadUInt32LittleEndian(s[132..]),
            DevMajor: BinaryPrimitives.ReadUInt32LittleEndian(s[136..]),
            DevMinor: BinaryPrimitives.ReadUInt32LittleEndian(s[140..]));
        return true;
    }

    public static bool TryLink(string existing, string newPath) => IsSupported && Link(existing, newPath) == 0;

    public static bool TryMknod(string path, uint mode, uint major, uint minor)
    {
        if (!IsSupported)
        {
            return false;
        }

        // glibc makedev for the 64-bit dev_t.
        ulong dev = ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);
        return Mknod(path, mode, dev) == 0;
    }

    public static bool TryLChown(string path, uint uid, uint gid) => IsSupported && LChown(path, uid, gid) == 0;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string newPath);

    [LibraryImport("libc", EntryPoint = "mknod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LChown(string path, uint uid, uint gid);
}

/// <summary>The fields of <c>struct statx</c> the archive code uses.</summary>
internal readonly record struct UnixStat(uint NLink, uint Uid, uint Gid, ushort Mode, ulong Inode, long Size, long MTimeSeconds, uint RDevMajor, uint RDevMinor, uint DevMajor, uint DevMinor)
{
    public int Type => Mode & 0xF000;
}
