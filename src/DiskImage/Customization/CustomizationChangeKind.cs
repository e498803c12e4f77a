namespace DiskImage.Customization;

/// <summary>What a customization did to one path.</summary>
public enum CustomizationChangeKind
{
    /// <summary>A new entry (file, directory, symbolic link) was created.</summary>
    Created,

    /// <summary>An existing entry was replaced by a new one (a new inode at the same path).</summary>
    Replaced,

    /// <summary>The content of an existing file was rewritten in place (inode, owner, mode and labels kept).</summary>
    Modified,

    /// <summary>Mode, owner or times of an existing entry changed.</summary>
    AttributesChanged,

    /// <summary>The entry was removed.</summary>
    Deleted,
}
