namespace DiskImage.Formats;

/// <summary>
/// The file is an image in a container format DiskImage recognizes by its header but does not read
/// (VMDK, VDI, VHDX, VHD, QED, qcow version 1, Parallels, DMG, Bochs, cloop). Such a file is
/// never read as raw unless the caller states <see cref="DiskImageFormat.Raw"/>
/// (<see cref="DiskImageOpenOptions.Format"/>); reading the container's bytes as the disk would copy
/// metadata as if it were guest data.
/// </summary>
public sealed class UnsupportedImageFormatException : NotSupportedException
{
    /// <summary>Creates the exception for a file detected as <paramref name="formatName"/>.</summary>
    /// <param name="formatName">The format's name as qemu-img spells it (for example <c>vmdk</c>).</param>
    /// <param name="message">The message.</param>
    /// <param name="fileName">The file, when the format was detected from a file.</param>
    public UnsupportedImageFormatException(string formatName, string message, string? fileName = null)
        : base(message)
    {
        FormatName = formatName;
        FileName = fileName;
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public UnsupportedImageFormatException()
        : this("unknown", "The image format is not supported.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public UnsupportedImageFormatException(string message)
        : this("unknown", message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    public UnsupportedImageFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        FormatName = "unknown";
    }

    /// <summary>The detected format's name as qemu-img spells it: <c>vmdk</c>, <c>vdi</c>, <c>vhdx</c>, <c>vpc</c>, <c>qed</c>, <c>qcow</c>, <c>parallels</c>, <c>dmg</c>, <c>bochs</c> or <c>cloop</c>.</summary>
    public string FormatName { get; }

    /// <summary>The file whose format was detected, when known (the image itself or a file of its backing chain).</summary>
    public string? FileName { get; }
}
