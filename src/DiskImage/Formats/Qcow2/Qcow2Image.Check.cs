using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>Consistency check and repair (<c>qemu-img check</c>).</content>
public sealed partial class Qcow2Image
{
    /// <summary>Checks metadata consistency like <c>qemu-img check</c>, optionally repairing (needs a writable image).</summary>
    /// <remarks>
    /// Every host cluster's references are counted and compared with the stored refcounts; the result
    /// carries qemu-img's counters and per-problem messages. A malformed image is reported, not thrown.
    /// With <see cref="Qcow2RepairMode.Leaks"/> leaked clusters are freed; with
    /// <see cref="Qcow2RepairMode.All"/> refcount errors and COPIED flags are fixed too, rebuilding the
    /// refcount structures when the stored ones are unusable. A successful repair clears the dirty bit.
    /// </remarks>
    /// <exception cref="InvalidOperationException"><paramref name="repair"/> is not <see cref="Qcow2RepairMode.None"/> and the image is read-only.</exception>
    public Qcow2CheckResult Check(Qcow2RepairMode repair = Qcow2RepairMode.None)
    {
        if (repair != Qcow2RepairMode.None && !IsWritable)
        {
            throw new InvalidOperationException("Repairing a qcow2 image needs an image opened writable.");
        }

        if (IsWritable)
        {
            // Pending metadata must be on the host before the checker reads it.
            Flush();
        }

        try
        {
            return Qcow2Checker.Run(Host, repair);
        }
        finally
        {
            if (repair != Qcow2RepairMode.None)
            {
                // The repair rewrote refcounts, COPIED flags, feature bits and possibly the refcount table
                // location: re-read the header and the tables.
                ReloadMetadata();
            }
        }
    }

    /// <summary>
    /// Checks the qcow2 image stored in <paramref name="host"/> without opening it, so images that
    /// cannot be opened can still be examined (and repaired when <paramref name="host"/> is writable).
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="repair"/> is not <see cref="Qcow2RepairMode.None"/> and <paramref name="host"/> is read-only.</exception>
    public static Qcow2CheckResult Check(BlockDevice host, Qcow2RepairMode repair = Qcow2RepairMode.None)
    {
        ArgumentNullException.ThrowIfNull(host);
        return Qcow2Checker.Run(host, repair);
    }

    /// <summary>Checks the qcow2 image file at <paramref name="path"/> (opened writable only when repairing).</summary>
    /// <param name="path">The image file.</param>
    /// <param name="repair">What to repair; repairing opens the file for writing.</param>
    /// <param name="locking">QEMU-compatible image locking; <see cref="ImageLocking.ForceShare"/> only without repair.</param>
    /// <exception cref="IOException">Another process holds the image in a way that excludes this check.</exception>
    public static Qcow2CheckResult Check(string path, Qcow2RepairMode repair = Qcow2RepairMode.None, ImageLocking locking = ImageLocking.Enabled)
    {
        ArgumentNullException.ThrowIfNull(path);
        bool writable = repair != Qcow2RepairMode.None;
        if (writable && locking == ImageLocking.ForceShare)
        {
            throw new ArgumentException("Force-share locking can only be used to check without repairing.", nameof(locking));
        }

        using FileBlockDevice host = FileBlockDevice.Open(path, writable, ImageLockRequest.ForQcow2(writable, metadataOnly: false, locking));
        return Qcow2Checker.Run(host, repair);
    }

    /// <summary>
    /// For the open path: repairs a dirty image (incompatible bit 0, lazy refcounts) in
    /// <paramref name="host"/> before its metadata is loaded, like QEMU does on a read-write open.
    /// Returns the check result; the image is usable when <see cref="Qcow2CheckResult.Corruptions"/>
    /// and <see cref="Qcow2CheckResult.CheckErrors"/> are 0. The dirty bit is cleared on success.
    /// </summary>
    internal static Qcow2CheckResult RepairDirtyImage(BlockDevice host) => Qcow2Checker.Run(host, Qcow2RepairMode.All);
}
