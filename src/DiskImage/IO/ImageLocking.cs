namespace DiskImage.IO;

/// <summary>
/// How an image file is locked against other users of it, with the byte-range locks QEMU takes
/// (see <c>docs/qcow2.md</c>, "Image locking"), so DiskImage and qemu-img, qemu-io, qemu-nbd and
/// running virtual machines exclude each other as two QEMU processes do.
/// </summary>
/// <remarks>
/// The locks are open file description locks (<c>F_OFD_SETLK</c>), taken on 64-bit Linux only;
/// elsewhere no byte-range lock is taken and only the host's own sharing rules apply. A second open
/// of the same file in the same process is a separate lock owner, so it conflicts like another process.
/// </remarks>
public enum ImageLocking
{
    /// <summary>
    /// Take the locks that the permissions of the open need and refuse the open (<see cref="IOException"/>)
    /// when another user's locks conflict with them. QEMU's default (<c>locking=auto</c> on Linux).
    /// </summary>
    Enabled = 0,

    /// <summary>
    /// Read-only opens only: share every permission with other users, so an image that a running
    /// virtual machine or another writer holds can still be inspected (qemu-img's <c>-U</c>,
    /// <c>--force-share</c>). What is read may be inconsistent while the other user writes.
    /// </summary>
    ForceShare = 1,

    /// <summary>Take no locks and check none (QEMU's <c>locking=off</c>). Nothing protects the image from a concurrent writer.</summary>
    Disabled = 2,
}
