namespace DiskImage.Archives.Cpio;

/// <summary>The type of a cpio entry; values are the <c>S_IFMT</c> bits of <c>c_mode</c>.</summary>
public enum CpioEntryType
{
    /// <summary>FIFO (<c>S_IFIFO</c>).</summary>
    Fifo = 0x1000,

    /// <summary>Character device (<c>S_IFCHR</c>).</summary>
    CharacterDevice = 0x2000,

    /// <summary>Directory (<c>S_IFDIR</c>).</summary>
    Directory = 0x4000,

    /// <summary>Block device (<c>S_IFBLK</c>).</summary>
    BlockDevice = 0x6000,

    /// <summary>Regular file (<c>S_IFREG</c>); a hard link is a regular file with <c>c_nlink</c> ≥ 2 sharing <c>c_ino</c>.</summary>
    RegularFile = 0x8000,

    /// <summary>Symbolic link (<c>S_IFLNK</c>); the target is the entry data.</summary>
    SymbolicLink = 0xA000,

    /// <summary>Socket (<c>S_IFSOCK</c>).</summary>
    Socket = 0xC000,
}
