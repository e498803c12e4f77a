namespace DiskImage.FileSystems.Fat;

/// <summary>The attribute byte of a FAT directory entry (<c>DIR_Attr</c>, fatgen103 §6).</summary>
[Flags]
public enum FatAttributes : byte
{
    /// <summary>No attribute.</summary>
    None = 0,

    /// <summary><c>ATTR_READ_ONLY</c>: writes are refused by DOS/Windows; Linux clears the write bits of a file's mode.</summary>
    ReadOnly = 0x01,

    /// <summary><c>ATTR_HIDDEN</c>.</summary>
    Hidden = 0x02,

    /// <summary><c>ATTR_SYSTEM</c>.</summary>
    System = 0x04,

    /// <summary><c>ATTR_VOLUME_ID</c>: the volume label entry in the root directory.</summary>
    VolumeId = 0x08,

    /// <summary><c>ATTR_DIRECTORY</c>.</summary>
    Directory = 0x10,

    /// <summary><c>ATTR_ARCHIVE</c>: set when a file is created or changed.</summary>
    Archive = 0x20,
}
