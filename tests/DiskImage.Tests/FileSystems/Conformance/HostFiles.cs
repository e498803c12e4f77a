using System.Runtime.InteropServices;
using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems.Conformance;

/// <summary>Linux calls the BCL lacks (xattrs, hard links, owners, ns times, device nodes), for building source trees.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static unsafe partial class HostFiles
{
    public static bool IsRoot => Environment.UserName == "root" || geteuid() == 0;

    public static void SetXattr(string path, string name, byte[] value)
    {
        fixed (byte* v = value)
        {
            Check(lsetxattr(path, name, v, (nuint)value.Length, 0), "lsetxattr " + path);
        }
    }

    public static void Link(string existing, string newPath) => Check(link(existing, newPath), "link " + newPath);

    public static void Chown(string path, uint uid, uint gid) => Check(lchown(path, uid, gid), "lchown " + path);

    public static void Mknod(string path, UnixFileType type, int mode, int major, int minor)
    {
        ulong ma = (uint)major, mi = (uint)minor;
        ulong dev = ((ma & 0xfff) << 8) | ((ma & ~0xfffUL) << 32) | (mi & 0xff) | ((mi & ~0xffUL) << 12);
        Check(mknod(path, (uint)type | (uint)mode, dev), "mknod " + path);
    }

    /// <summary>Sets atime and mtime with nanoseconds without following a final symlink.</summary>
    public static void SetTimes(string path, UnixTime atime, UnixTime mtime)
    {
        long* ts = stackalloc long[4];
        ts[0] = atime.Seconds;
        ts[1] = atime.Nanoseconds;
        ts[2] = mtime.Seconds;
        ts[3] = mtime.Nanoseconds;
        const int AT_FDCWD = -100;
        const int AT_SYMLINK_NOFOLLOW = 0x100;
        Check(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), "utimensat " + path);
    }

    /// <summary>Reads all extended attributes of a path (not following a final symlink).</summary>
    public static Dictionary<string, byte[]> GetXattrs(string path)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        byte[] names = new byte[65536];
        nint n;
        fixed (byte* p = names)
        {
            n = llistxattr(path, p, (nuint)names.Length);
        }

        if (n < 0)
        {
            throw new IOException($"llistxattr {path} failed: errno {Marshal.GetLastPInvokeError()}");
        }

        foreach (string name in Encoding.UTF8.GetString(names, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            byte[] value = new byte[65536];
            nint len;
            fixed (byte* v = value)
            {
                len = lgetxattr(path, name, v, (nuint)value.Length);
            }

            if (len < 0)
            {
                throw new IOException($"lgetxattr {path} {name} failed: errno {Marshal.GetLastPInvokeError()}");
            }

            result[name] = value.AsSpan(0, (int)len).ToArray();
        }

        return result;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new IOException($"{what} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldpath, string newpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lchown(string path, uint owner, uint group);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int utimensat(int dirfd, string path, long* times, int flags);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint llistxattr(string path, byte* list, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
