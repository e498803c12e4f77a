namespace DiskImage.FileSystems.Xfs;

/// <summary>An extended attribute as XFS stores it: namespace flags (<c>XFS_ATTR_ROOT</c> 0x2, <c>XFS_ATTR_SECURE</c> 0x4), name without prefix, value.</summary>
internal readonly record struct XfsAttributeToWrite(byte Flags, byte[] Name, byte[] Value);
