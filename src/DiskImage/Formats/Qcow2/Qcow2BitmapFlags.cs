namespace DiskImage.Formats.Qcow2;

/// <summary>Flags of a persistent dirty bitmap (bitmap directory entry, <c>flags</c>).</summary>
[Flags]
public enum Qcow2BitmapFlags : uint
{
    /// <summary>No flags: a disabled bitmap that is consistent.</summary>
    None = 0,

    /// <summary>Bit 0 (<c>in_use</c>): the bitmap is being changed by a writer, or was not stored when the image was last closed, and is inconsistent.</summary>
    InUse = 1U << 0,

    /// <summary>Bit 1 (<c>auto</c>): the bitmap is enabled and tracks every write.</summary>
    Auto = 1U << 1,

    /// <summary>Bit 2 (<c>extra_data_compatible</c>): the entry's extra data may be ignored.</summary>
    ExtraDataCompatible = 1U << 2,
}
