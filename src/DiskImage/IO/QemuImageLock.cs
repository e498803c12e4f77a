using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.IO;

/// <summary>
/// Takes and checks QEMU's image locks on an open file: one-byte shared (read) open file description
/// locks at 100 + bit for each permission held and at 200 + bit for each permission not shared;
/// another user's lock on the opposite byte is found with <c>F_OFD_GETLK</c>. Locks go away when the
/// handle is closed. 64-bit Linux only; elsewhere, or where the kernel has no OFD locks, nothing is done.
/// </summary>
internal static partial class QemuImageLock
{
    /// <summary>First byte of the "permission held" locks (QEMU's <c>RAW_LOCK_PERM_BASE</c>).</summary>
    public const int PermissionBase = 100;

    /// <summary>First byte of the "permission not shared" locks (QEMU's <c>RAW_LOCK_SHARED_BASE</c>).</summary>
    public const int SharedBase = 200;

    private const int PermissionCount = 4;
    private const int FOfdGetLk = 36;
    private const int FOfdSetLk = 37;
    private const short FRdLck = 0;
    private const short FWrLck = 1;
    private const short FUnLck = 2;
    private const int EInval = 22;

    private static volatile bool s_unavailable = !(OperatingSystem.IsLinux() && Environment.Is64BitProcess);

    /// <summary>Whether locks are taken in this process.</summary>
    public static bool IsSupported => !s_unavailable;

    /// <summary>
    /// Takes the locks of <paramref name="request"/> on <paramref name="handle"/>, then checks that no
    /// other user holds a permission this open does not share or refuses one it takes.
    /// </summary>
    /// <param name="handle">The open file.</param>
    /// <param name="imageName">The name shown in the error, as the caller gave it.</param>
    /// <param name="request">The permissions to take and share.</param>
    /// <exception cref="IOException">Another user's locks conflict, in QEMU's words.</exception>
    public static void Acquire(SafeFileHandle handle, string imageName, ImageLockRequest request)
    {
        if (!request.Enabled || s_unavailable)
        {
            return;
        }

        QemuPermissions unshared = QemuPermissions.All & ~request.Shared;
        for (int i = 0; i < PermissionCount; i++)
        {
            if (((int)request.Permissions & (1 << i)) != 0 && !SetLock(handle, PermissionBase + i, imageName))
            {
                return;
            }
        }

        for (int i = 0; i < PermissionCount; i++)
        {
            if (((int)unshared & (1 << i)) != 0 && !SetLock(handle, SharedBase + i, imageName))
            {
                return;
            }
        }

        // A permission taken conflicts with another user that does not share it; one not shared
        // conflicts with another user that holds it.
        for (int i = 0; i < PermissionCount; i++)
        {
            if (((int)request.Permissions & (1 << i)) != 0 && IsLockedByOther(handle, SharedBase + i))
            {
                Release(handle);
                throw Conflict($"Failed to get \"{Name(i)}\" lock", imageName);
            }
        }

        for (int i = 0; i < PermissionCount; i++)
        {
            if (((int)unshared & (1 << i)) != 0 && IsLockedByOther(handle, PermissionBase + i))
            {
                Release(handle);
                throw Conflict($"Failed to get shared \"{Name(i)}\" lock", imageName);
            }
        }
    }

    /// <summary>
    /// Drops every lock of this open file description on <paramref name="handle"/>. Closing the handle
    /// alone may leave them for a moment: a child process being started (between its fork and exec)
    /// still shares the description, and a reopen in that window would see its own old locks.
    /// </summary>
    public static void Release(SafeFileHandle handle)
    {
        if (s_unavailable || handle.IsClosed)
        {
            return;
        }

        var lk = new Flock { Type = FUnLck, Whence = 0, Start = PermissionBase, Length = SharedBase + PermissionCount - PermissionBase };
        _ = Call(handle, FOfdSetLk, ref lk);
    }

    /// <summary>QEMU's name of permission bit <paramref name="bit"/> (as in its error messages).</summary>
    public static string Name(int bit) => bit switch
    {
        0 => "consistent read",
        1 => "write",
        2 => "write unchanged",
        3 => "resize",
        _ => "unknown",
    };

    private static IOException Conflict(string what, string imageName) =>
        new($"{what}\nIs another process using the image [{imageName}]?");

    // Returns false when the host has no OFD locks (nothing more is attempted in this process).
    private static bool SetLock(SafeFileHandle handle, int offset, string imageName)
    {
        var lk = new Flock { Type = FRdLck, Whence = 0, Start = offset, Length = 1 };
        int errno = Call(handle, FOfdSetLk, ref lk);
        if (errno == 0)
        {
            return true;
        }

        if (errno < 0 || errno == EInval)
        {
            // No C library entry point, or a kernel older than 3.15: QEMU falls back to POSIX locks,
            // which a second open in the same process would silently share; take none.
            s_unavailable = true;
            return false;
        }

        Release(handle);
        throw new IOException($"Failed to lock byte {offset}\nIs another process using the image [{imageName}]?", new IOException(Marshal.GetPInvokeErrorMessage(errno)));
    }

    private static bool IsLockedByOther(SafeFileHandle handle, int offset)
    {
        var lk = new Flock { Type = FWrLck, Whence = 0, Start = offset, Length = 1 };
        int errno = Call(handle, FOfdGetLk, ref lk);
        if (errno != 0)
        {
            // QEMU treats a failed test as a conflict too.
            return errno > 0;
        }

        return lk.Type != FUnLck;
    }

    // Returns 0, the errno of a failed call, or -1 when the C library cannot be called.
    private static int Call(SafeFileHandle handle, int command, ref Flock lk)
    {
        try
        {
            return Fcntl(handle, command, ref lk) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        catch (DllNotFoundException)
        {
            return -1;
        }
        catch (EntryPointNotFoundException)
        {
            return -1;
        }
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(SafeFileHandle fd, int command, ref Flock lk);

    /// <summary><c>struct flock</c> of 64-bit Linux (x86-64, arm64, and the other generic layouts).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }
}
