using DiskImage.IO;

namespace DiskImage.Formats.Raw;

/// <summary>A raw image: the file's bytes are the guest's bytes.</summary>
public sealed class RawImage : DiskImageFile
{
    private readonly FileBlockDevice _file;

    private RawImage(FileBlockDevice file, string fileName)
    {
        _file = file;
        _file.MarkHeldByOwner();
        FileName = fileName;
    }

    /// <inheritdoc />
    public override DiskImageFormat Format => DiskImageFormat.Raw;

    /// <summary>
    /// The image file as a device; a view the image owns, so disposing it (or a stream or file system
    /// over it) leaves it open: it is released with the image.
    /// </summary>
    public override BlockDevice Content => _file;

    /// <inheritdoc />
    public override string FileName { get; }

    /// <summary>Opens a raw image file (or block device), locked as <see cref="DiskImageOpenOptions.Locking"/> says.</summary>
    /// <exception cref="IOException">Another user holds locks that conflict with the open.</exception>
    public static new RawImage Open(string path, DiskImageOpenOptions? options = null)
    {
        options ??= DiskImageOpenOptions.Default;
        return new RawImage(FileBlockDevice.Open(path, options.Writable, ImageLockRequest.ForFile(options.Writable, options.MetadataOnly, options.Locking)), path);
    }

    /// <summary>Creates a sparse raw image of <paramref name="virtualSize"/> bytes, opened writable.</summary>
    /// <param name="path">The image file to create.</param>
    /// <param name="virtualSize">The guest disk size in bytes.</param>
    /// <param name="overwrite">Whether an existing file may be replaced; false by default.</param>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false (the message names it), or another user holds it.</exception>
    public static RawImage Create(string path, long virtualSize, bool overwrite = false) =>
        new(FileBlockDevice.Create(path, virtualSize, overwrite), path);

    /// <inheritdoc />
    public override ImageInfo GetInfo() => new()
    {
        FileName = FileName,
        Format = DiskImageFormat.Raw,
        VirtualSize = _file.Length,
        ActualSize = _file.AllocatedSize,
    };

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.DisposeByOwner();
        }
    }
}
