using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// QEMU's image locks held on separate handles while a chain verb works on images it opened without
/// locks: what one QEMU process holds on each file (the union of its users' permissions, the
/// intersection of what they share), so other processes see exactly that.
/// </summary>
internal sealed class HeldImageLocks : IDisposable
{
    private readonly Dictionary<string, FileBlockDevice> _held = new(StringComparer.Ordinal);
    private readonly ImageLocking _locking;

    public HeldImageLocks(ImageLocking locking) => _locking = locking;

    /// <summary>
    /// Takes (or replaces) the lock on <paramref name="name"/>: the request of a qcow2 or raw open
    /// (<paramref name="writable"/>), narrowed by <paramref name="alsoUnshared"/>.
    /// </summary>
    /// <param name="name">The file, by the name shown in a conflict message (as QEMU opens it).</param>
    /// <param name="format">The image format (qcow2 opens never share write and resize).</param>
    /// <param name="writable">Whether the image is written.</param>
    /// <param name="alsoUnshared">Permissions additionally not shared with other users.</param>
    /// <exception cref="IOException">Another user's locks conflict (in QEMU's words).</exception>
    public void Take(string name, DiskImageFormat format, bool writable, QemuPermissions alsoUnshared = QemuPermissions.None)
    {
        if (_locking == ImageLocking.Disabled)
        {
            return;
        }

        Release(name);
        ImageLockRequest request = format == DiskImageFormat.Qcow2
            ? ImageLockRequest.ForQcow2(writable, metadataOnly: false, _locking)
            : ImageLockRequest.ForFile(writable, metadataOnly: false, _locking);
        if (alsoUnshared != QemuPermissions.None && _locking != ImageLocking.ForceShare)
        {
            request = request with { Shared = request.Shared & ~alsoUnshared };
        }

        FileBlockDevice holder = FileBlockDevice.Open(name, writable: false, request);
        _held[name] = holder;
    }

    /// <summary>Drops the lock on <paramref name="name"/>, if held.</summary>
    public void Release(string name)
    {
        if (_held.Remove(name, out FileBlockDevice? old))
        {
            old.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (FileBlockDevice d in _held.Values)
        {
            d.Dispose();
        }

        _held.Clear();
    }
}
