namespace DiskImage.Formats;

/// <summary>Container formats DiskImage reads and writes.</summary>
public enum DiskImageFormat
{
    /// <summary>A plain byte-for-byte image.</summary>
    Raw = 0,

    /// <summary>QEMU copy-on-write version 2 (compat 0.10 = v2, compat 1.1 = v3).</summary>
    Qcow2 = 1,

    /// <summary>A raw LUKS1 encrypted image (qemu's <c>luks</c>): header, key material, encrypted payload.</summary>
    Luks = 2,
}
