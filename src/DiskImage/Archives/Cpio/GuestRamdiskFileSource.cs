namespace DiskImage.Archives.Cpio;

/// <summary>Where the content of a <see cref="GuestRamdiskFile"/> comes from.</summary>
public enum GuestRamdiskFileSource
{
    /// <summary>A path in the guest file system (a final symbolic link is followed; a directory is copied with its tree).</summary>
    Guest = 0,

    /// <summary>A path on the host (a regular file, or a directory copied with its tree, symbolic links kept).</summary>
    Host,

    /// <summary>Bytes given in <see cref="GuestRamdiskFile.Content"/>.</summary>
    Content,
}
