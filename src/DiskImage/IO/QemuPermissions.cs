namespace DiskImage.IO;

/// <summary>
/// The block-layer permissions of QEMU 7.2 (<c>BLK_PERM_*</c>) in their bit order; bit <c>i</c> is
/// locked at byte 100 + i while held and at byte 200 + i while not shared with other users.
/// </summary>
[Flags]
internal enum QemuPermissions
{
    /// <summary>No permission.</summary>
    None = 0,

    /// <summary><c>BLK_PERM_CONSISTENT_READ</c> ("consistent read"): reads see consistent data.</summary>
    ConsistentRead = 1 << 0,

    /// <summary><c>BLK_PERM_WRITE</c> ("write"): the content may change.</summary>
    Write = 1 << 1,

    /// <summary><c>BLK_PERM_WRITE_UNCHANGED</c> ("write unchanged"): writes that do not change what a reader sees.</summary>
    WriteUnchanged = 1 << 2,

    /// <summary><c>BLK_PERM_RESIZE</c> ("resize"): the size may change.</summary>
    Resize = 1 << 3,

    /// <summary><c>BLK_PERM_ALL</c>.</summary>
    All = ConsistentRead | Write | WriteUnchanged | Resize,
}
