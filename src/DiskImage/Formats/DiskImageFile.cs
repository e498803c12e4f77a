using DiskImage.Formats.Luks;
using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;
using DiskImage.IO;

namespace DiskImage.Formats;

/// <summary>An opened disk image of any supported container format; <see cref="Content"/> is what the guest sees.</summary>
public abstract class DiskImageFile : IDisposable, IAsyncDisposable
{
    /// <summary>The container format.</summary>
    public abstract DiskImageFormat Format { get; }

    /// <summary>
    /// The guest-visible disk as a device (reads follow the backing chain where there is one). The image
    /// owns it: it stays usable until the image is disposed, and disposing it — or a stream
    /// (<see cref="BlockDevice.AsStream"/>) or file system opened over it without <c>leaveOpen</c> — does
    /// not close it or the image.
    /// </summary>
    public abstract BlockDevice Content { get; }

    /// <summary>Path of the image file, when opened from a path.</summary>
    public abstract string? FileName { get; }

    /// <summary>Describes the image like <c>qemu-img info</c>.</summary>
    public abstract ImageInfo GetInfo();

    /// <summary>
    /// Opens <paramref name="path"/>, detecting the format from its content unless
    /// <see cref="DiskImageOpenOptions.Format"/> states it. A file that starts with a known magic is
    /// never treated as raw; a qcow2 header that fails validation throws rather than falling back.
    /// </summary>
    /// <exception cref="UnsupportedImageFormatException">
    /// The format was detected, not stated, and is one DiskImage recognizes but does not read (VMDK,
    /// VDI, VHDX, VHD, QED, qcow version 1, Parallels, DMG, Bochs, cloop). Stating
    /// <see cref="DiskImageFormat.Raw"/> reads such a file's bytes as they are.
    /// </exception>
    public static DiskImageFile Open(string path, DiskImageOpenOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= DiskImageOpenOptions.Default;
        DiskImageFormat format = options.Format ?? DetectFormat(path);
        return format switch
        {
            DiskImageFormat.Qcow2 => Qcow2Image.Open(path, options),
            DiskImageFormat.Raw => RawImage.Open(path, options),
            DiskImageFormat.Luks => LuksImage.Open(path, options),
            _ => throw new NotSupportedException($"Unknown image format {format}."),
        };
    }

    /// <summary>Detects the format of the file at <paramref name="path"/> from its first (and, for VHD and DMG trailers, last) bytes.</summary>
    /// <exception cref="UnsupportedImageFormatException">The file is in a format DiskImage recognizes but does not read.</exception>
    public static DiskImageFormat DetectFormat(string path) => ToFormat(ImageFormatProbe.Probe(path), path);

    /// <summary>Detects the format from the first bytes of an image (at least 4 are needed to see a magic, 512 to see every format).</summary>
    /// <exception cref="UnsupportedImageFormatException">The header is that of a format DiskImage recognizes but does not read.</exception>
    public static DiskImageFormat DetectFormat(ReadOnlySpan<byte> header) =>
        ToFormat(ImageFormatProbe.Probe(header, default), null);

    /// <summary>
    /// The name qemu-img gives the format of the file at <paramref name="path"/>: <c>raw</c>,
    /// <c>qcow2</c>, <c>luks</c> (LUKS1 and LUKS2 headers), or a format DiskImage recognizes but does not
    /// read (<c>vmdk</c>, <c>vdi</c>, <c>vhdx</c>, <c>vpc</c>, <c>qed</c>, <c>qcow</c>, <c>parallels</c>, <c>dmg</c>,
    /// <c>bochs</c>, <c>cloop</c>). Never throws for a foreign format.
    /// </summary>
    public static string DetectFormatName(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return ImageFormatProbe.Probe(path);
    }

    private static DiskImageFormat ToFormat(string name, string? path) => name switch
    {
        "raw" => DiskImageFormat.Raw,
        "qcow2" => DiskImageFormat.Qcow2,
        "luks" => DiskImageFormat.Luks,
        _ => throw new UnsupportedImageFormatException(
            name,
            $"{(path is null ? "The image" : $"'{path}'")} is a {Describe(name)} image (format '{name}'), which DiskImage does not read. It is read as raw bytes only when DiskImageOpenOptions.Format is DiskImageFormat.Raw.",
            path),
    };

    private static string Describe(string name) => name switch
    {
        "vmdk" => "VMware VMDK",
        "vdi" => "VirtualBox VDI",
        "vhdx" => "Hyper-V VHDX",
        "vpc" => "Virtual PC VHD",
        "qed" => "QEMU QED",
        "qcow" => "QEMU qcow version 1",
        "parallels" => "Parallels",
        "luks" => "LUKS encrypted",
        "dmg" => "Apple DMG",
        "bochs" => "Bochs",
        "cloop" => "cloop compressed",
        _ => name,
    };

    /// <summary>Makes all writes durable.</summary>
    public virtual void Flush() => Content.Flush();

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases the image's files.</summary>
    protected abstract void Dispose(bool disposing);
}
