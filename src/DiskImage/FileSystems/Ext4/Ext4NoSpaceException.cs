namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// The planned contents do not fit in the file system being laid out. An <see cref="IOException"/>, so
/// that a caller of <c>Build</c> sees the documented exception type even when it escapes the write stage.
/// </summary>
internal sealed class Ext4NoSpaceException : IOException
{
    public Ext4NoSpaceException()
        : base("The file system is full: the tree does not fit in the device.")
    {
    }
}
