namespace DiskImage.Guests;

/// <summary>One mount of a guest view: a volume (by its device name, <c>/dev/sda1</c>, <c>/dev/vg/lv</c>) at an absolute mount point.</summary>
public sealed class GuestMount
{
    /// <summary>Creates a mount of <paramref name="device"/> at <paramref name="mountPoint"/>.</summary>
    /// <param name="device">The device name as <see cref="GuestVolume.Name"/> gives it (or one of its aliases).</param>
    /// <param name="mountPoint">The absolute mount point ("/", "/boot", "/var/log").</param>
    /// <exception cref="ArgumentException">The device is empty or the mount point is not absolute.</exception>
    public GuestMount(string device, string mountPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(device);
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        if (mountPoint[0] != '/')
        {
            throw new ArgumentException($"The mount point '{mountPoint}' is not absolute.", nameof(mountPoint));
        }

        Device = device;
        MountPoint = GuestPaths.Canonical(mountPoint);
    }

    /// <summary>The device name.</summary>
    public string Device { get; }

    /// <summary>The mount point, canonical (no repeated or trailing '/').</summary>
    public string MountPoint { get; }

    /// <summary>
    /// Parses the guestfish <c>-m</c> form <c>DEVICE[:MOUNTPOINT]</c> (the mount point defaults to "/").
    /// </summary>
    /// <exception cref="ArgumentException">The text is empty or the mount point is not absolute.</exception>
    public static GuestMount Parse(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? new GuestMount(text, "/") : new GuestMount(text[..colon], text[(colon + 1)..]);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Device}:{MountPoint}";
}
