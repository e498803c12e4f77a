namespace DiskImage.Formats.Qcow2;

/// <summary>A persistent dirty bitmap as <c>qemu-img info</c> lists it (<c>bitmaps</c>).</summary>
/// <param name="Name">The bitmap's name (<c>name</c>).</param>
/// <param name="Granularity">Bytes of guest disk per bit (<c>granularity</c>).</param>
/// <param name="Flags">The stored flags (<c>flags</c>: "in-use", "auto").</param>
public sealed record Qcow2Bitmap(string Name, long Granularity, Qcow2BitmapFlags Flags);
