namespace DiskImage.Archives.Cpio;

/// <summary>
/// An extra file of a guest ramdisk (<see cref="GuestRamdiskOptions.ExtraFiles"/>): a guest path, a host path or
/// bytes, placed at <see cref="Destination"/> in the ramdisk (replacing what the guest part put there).
/// </summary>
public sealed class GuestRamdiskFile
{
    private GuestRamdiskFile(GuestRamdiskFileSource source, string? sourcePath, ReadOnlyMemory<byte> content, string destination, UnixFileMode? mode)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        if (!destination.StartsWith('/'))
        {
            throw new ArgumentException($"Ramdisk path '{destination}' is not absolute.", nameof(destination));
        }

        Source = source;
        SourcePath = sourcePath;
        Content = content;
        Destination = destination;
        Mode = mode;
    }

    /// <summary>Where the content comes from.</summary>
    public GuestRamdiskFileSource Source { get; }

    /// <summary>The guest or host path (null for <see cref="GuestRamdiskFileSource.Content"/>).</summary>
    public string? SourcePath { get; }

    /// <summary>The bytes of a <see cref="GuestRamdiskFileSource.Content"/> file.</summary>
    public ReadOnlyMemory<byte> Content { get; }

    /// <summary>The absolute path in the ramdisk.</summary>
    public string Destination { get; }

    /// <summary>Permission bits of the file; null keeps the source's (0644 for content).</summary>
    public UnixFileMode? Mode { get; }

    /// <summary>A file or directory of the guest, copied to <paramref name="destination"/>.</summary>
    public static GuestRamdiskFile FromGuest(string guestPath, string destination, UnixFileMode? mode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(guestPath);
        if (!guestPath.StartsWith('/'))
        {
            throw new ArgumentException($"Guest path '{guestPath}' is not absolute.", nameof(guestPath));
        }

        return new GuestRamdiskFile(GuestRamdiskFileSource.Guest, guestPath, default, destination, mode);
    }

    /// <summary>A file or directory of the host, copied to <paramref name="destination"/>.</summary>
    public static GuestRamdiskFile FromHost(string hostPath, string destination, UnixFileMode? mode = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(hostPath);
        return new GuestRamdiskFile(GuestRamdiskFileSource.Host, hostPath, default, destination, mode);
    }

    /// <summary>A file holding <paramref name="content"/>.</summary>
    public static GuestRamdiskFile FromContent(ReadOnlyMemory<byte> content, string destination, UnixFileMode mode = (UnixFileMode)0x1A4) =>
        new(GuestRamdiskFileSource.Content, null, content, destination, mode);

    /// <inheritdoc />
    public override string ToString() => $"{SourcePath ?? "(content)"} -> {Destination}";
}
