namespace DiskImage.Lvm;

/// <summary>A <c>disk_locn</c> of the pv_header: a byte offset on the PV and a size in bytes (0 = to the end of the device for a data area).</summary>
internal readonly record struct LvmDiskLocation(ulong Offset, ulong Size);
