using DiskImage.Formats.Qcow2;
using DiskImage.Formats.Raw;
using DiskImage.IO;

namespace DiskImage.Formats;

/// <summary>An opened disk image of any supported container format; <see cref="Content"/> is what the guest sees.</summary>
public abstract class DiskImageFile : IDisposable, IAsyncDisposable
{
    /// <summary>The container format.</summary>
    public abstract DiskImageFormat Format { get; }

    /// <summary>The guest-visible disk as a device (reads follow the backing chain where there is one).</summary>
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
    public static DiskImageFile Open(string path, DiskImageOpenOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= DiskImageOpenOptions.Default;
        DiskImageFormat format = options.Format ?? DetectFormat(path);
        return format switch
        {
            DiskImageFormat.Qcow2 => Qcow2Image.Open(path, options),
            DiskImageFormat.Raw => RawImage.Open(path, options),
            _ => throw new NotSupportedException($"Unknown image format {format}."),
        };
    }

    /// <summary>Detects the format of the file at <paramref name="path"/> from its first bytes.</summary>
    public static DiskImageFormat DetectFormat(string path)
    {
        Span<byte> header = stackalloc byte[8];
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        int n = RandomAccess.Read(handle, header, 0);
        return DetectFormat(header[..n]);
    }

    /// <summary>Detects the format from the first bytes of an image (at least 4 are needed to see a magic).</summary>
    public static DiskImageFormat DetectFormat(ReadOnlySpan<byte> header) =>
        Qcow2Image.HasMagic(header) ? DiskImageFormat.Qcow2 : DiskImageFormat.Raw;

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
