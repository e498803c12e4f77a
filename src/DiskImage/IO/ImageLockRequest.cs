namespace DiskImage.IO;

/// <summary>
/// What one open of an image file locks: the QEMU permissions it takes and those it lets other users
/// take, following what QEMU 7.2's tools request for the same kind of open.
/// </summary>
/// <param name="Enabled">Whether any lock is taken or checked.</param>
/// <param name="Permissions">The permissions taken (locked at byte 100 + bit).</param>
/// <param name="Shared">The permissions other users may take (each one not shared is locked at byte 200 + bit).</param>
internal readonly record struct ImageLockRequest(bool Enabled, QemuPermissions Permissions, QemuPermissions Shared)
{
    /// <summary>No lock taken or checked.</summary>
    public static ImageLockRequest None => default;

    /// <summary>
    /// A file used directly as a disk (raw images, <see cref="FileBlockDevice"/>): a reader takes
    /// "consistent read" and shares everything, as qemu-img and qemu-io do for raw images; a writer
    /// takes "consistent read", "write" and "resize" and does not share "write", as a QEMU guest
    /// device does (<c>share-rw=off</c>), so two writers of one file exclude each other.
    /// </summary>
    public static ImageLockRequest ForFile(bool writable, bool metadataOnly, ImageLocking locking)
    {
        Validate(writable, locking);
        if (locking == ImageLocking.Disabled)
        {
            return None;
        }

        QemuPermissions shared = writable ? QemuPermissions.All & ~QemuPermissions.Write : QemuPermissions.All;
        return Build(Taken(writable, metadataOnly), shared, locking);
    }

    /// <summary>
    /// The file under a qcow2 image: as QEMU's format layer, whatever the open, "write" and "resize"
    /// are not shared (another writer would change the metadata underneath); a writer also takes
    /// "write" and "resize".
    /// </summary>
    public static ImageLockRequest ForQcow2(bool writable, bool metadataOnly, ImageLocking locking)
    {
        Validate(writable, locking);
        if (locking == ImageLocking.Disabled)
        {
            return None;
        }

        return Build(Taken(writable, metadataOnly), QemuPermissions.All & ~(QemuPermissions.Write | QemuPermissions.Resize), locking);
    }

    // qemu-img info opens without I/O (BDRV_O_NO_IO): no "consistent read".
    private static QemuPermissions Taken(bool writable, bool metadataOnly) =>
        writable ? QemuPermissions.ConsistentRead | QemuPermissions.Write | QemuPermissions.Resize
        : metadataOnly ? QemuPermissions.None : QemuPermissions.ConsistentRead;

    private static ImageLockRequest Build(QemuPermissions permissions, QemuPermissions shared, ImageLocking locking) =>
        new(true, permissions, locking == ImageLocking.ForceShare ? QemuPermissions.All : shared);

    private static void Validate(bool writable, ImageLocking locking)
    {
        if (locking is not (ImageLocking.Enabled or ImageLocking.ForceShare or ImageLocking.Disabled))
        {
            throw new ArgumentOutOfRangeException(nameof(locking), locking, "Unknown locking mode.");
        }

        if (writable && locking == ImageLocking.ForceShare)
        {
            throw new ArgumentException("Force-sharing (ImageLocking.ForceShare) can only be used with read-only opens.", nameof(locking));
        }
    }
}
