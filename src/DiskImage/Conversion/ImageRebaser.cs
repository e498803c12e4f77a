using System.Buffers;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// Changes the backing file of a qcow2 image (<c>qemu-img rebase</c>). The safe mode keeps the guest
/// view: wherever the image itself allocates nothing and the old backing chain reads differently from
/// the new one, the old content is first written into the image; then the header names the new file.
/// A null or empty new backing file flattens the image (it then holds everything it showed).
/// </summary>
/// <remarks>
/// The image is locked for writing, the old chain and the new backing file for reading, as qemu-img
/// locks them. A new backing file that is the image itself, or whose chain reaches it, under any name
/// (symbolic or hard links, <c>/proc/self/fd</c>), is refused before anything is written.
/// </remarks>
public static class ImageRebaser
{
    private const int ChunkSize = 1024 * 1024;
    private const int SectorSize = 512;

    /// <summary>Makes <paramref name="backingFile"/> (relative names are relative to the image's directory) the backing file of the image at <paramref name="path"/>.</summary>
    /// <param name="path">The qcow2 image.</param>
    /// <param name="backingFile">The new backing file as it is recorded, or null/empty for none.</param>
    /// <param name="options">The options; null for the defaults.</param>
    /// <param name="progress">Receives guest bytes handled out of the virtual size (safe mode).</param>
    /// <param name="cancellationToken">Stops the copy between chunks; the image then still names its old backing file and shows the same guest view.</param>
    /// <exception cref="IOException">An image is held by another user, the new backing file cannot be opened or is the image itself, or no backing format was given.</exception>
    /// <exception cref="NotSupportedException">The image is not a qcow2 image.</exception>
    public static void Rebase(string path, string? backingFile, ImageRebaseOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= ImageRebaseOptions.Default;
        string? newName = string.IsNullOrEmpty(backingFile) ? null : backingFile;
        string? newFormat = newName is null || options.BackingFormat is not { } f ? null : FormatName(f);
        ImageLocking locking = options.BackingLocking == ImageLocking.Disabled ? ImageLocking.Disabled : ImageLocking.Enabled;
        if (options.Unsafe)
        {
            using FileBlockDevice host = OpenLocked(path, locking);
            RequireQcow2(host, options.Format, newName);
            RequireFormat(newName, newFormat);
            Qcow2Image.ChangeBackingFile(host, newName, newFormat);
            return;
        }

        using (DiskImageFile image = DiskImageFile.Open(path, new DiskImageOpenOptions
        {
            Writable = true,
            Format = options.Format,
            BackingFiles = BackingFilePolicy.Allow,
            Locking = locking,
        }))
        {
            using DiskImageFile? newBacking = newName is null ? null : OpenNewBacking(path, image, newName, options);
            RequireFormat(newName, newFormat);
            if (image is not Qcow2Image qcow2)
            {
                throw new NotSupportedException($"Could not change the backing file to '{newName}': Operation not supported");
            }

            CopyDifferences(qcow2, newBacking?.Content, progress, cancellationToken);
            image.Flush();
        }

        using (FileBlockDevice host = OpenLocked(path, locking))
        {
            Qcow2Image.ChangeBackingFile(host, newName, newFormat);
        }
    }

    private static FileBlockDevice OpenLocked(string path, ImageLocking locking)
    {
        try
        {
            return FileBlockDevice.Open(path, writable: true, ImageLockRequest.ForQcow2(writable: true, metadataOnly: false, locking));
        }
        catch (IOException e) when (e.Message.StartsWith("Failed to get", StringComparison.Ordinal))
        {
            throw new IOException($"Could not open '{path}': {e.Message}", e);
        }
    }

    private static void RequireQcow2(BlockDevice host, DiskImageFormat? format, string? newName)
    {
        Span<byte> magic = stackalloc byte[4];
        int n = host.Read(0, magic);
        if (format == DiskImageFormat.Raw || !Qcow2Image.HasMagic(magic[..n]))
        {
            throw new NotSupportedException($"Could not change the backing file to '{newName}': Operation not supported");
        }
    }

    private static void RequireFormat(string? newName, string? newFormat)
    {
        if (newName is not null && newFormat is null)
        {
            throw new IOException($"Could not change the backing file to '{newName}': backing format must be specified");
        }
    }

    private static string FormatName(DiskImageFormat format) => format switch
    {
        DiskImageFormat.Qcow2 => "qcow2",
        DiskImageFormat.Raw => "raw",
        _ => format.ToString().ToLowerInvariant(),
    };

    private static DiskImageFile OpenNewBacking(string path, DiskImageFile image, string newName, ImageRebaseOptions options)
    {
        string shown = ImageChain.CombineBackingName(path, newName);
        DiskImageFile opened;
        try
        {
            if (options.BackingFormat == DiskImageFormat.Qcow2 && File.Exists(shown) && DiskImageFile.DetectFormat(shown) != DiskImageFormat.Qcow2)
            {
                throw new InvalidDataException("Image is not in qcow2 format");
            }

            opened = DiskImageFile.Open(shown, new DiskImageOpenOptions
            {
                Format = options.BackingFormat,
                BackingFiles = BackingFilePolicy.Allow,
                Locking = options.BackingLocking,
            });
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
        {
            string reason = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => $"Could not open '{shown}': No such file or directory",
                UnauthorizedAccessException => $"Could not open '{shown}': Permission denied",
                _ => e.Message,
            };
            throw new IOException($"Could not open new backing file '{newName}': {reason}", e);
        }

        // The new chain must not reach the image under any name: it would read what it writes.
        List<string> files = ImageFiles.Of(opened);
        List<string> mine = ImageFiles.Of(image);
        if (ImageFiles.FindAlias(mine[0], files) is not null)
        {
            opened.Dispose();
            throw new IOException($"Could not open new backing file '{newName}': Failed to get shared \"write\" lock\nIs another process using the image [{shown}]?");
        }

        return opened;
    }

    /// <summary>Writes the old chain's content into the image wherever the image allocates nothing and the new backing reads differently.</summary>
    private static void CopyDifferences(Qcow2Image image, BlockDevice? newBacking, IProgress<ConvertProgress>? progress, CancellationToken cancellationToken)
    {
        BlockDevice content = image.Content;
        BlockDevice? oldBacking = image.Backing?.Content;
        long length = content.Length;
        progress?.Report(new ConvertProgress(0, length));
        byte[] oldBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] newBuffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long pos = 0;
            while (pos < length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                AllocationExtent extent = content.GetAllocation(pos, Math.Min(length - pos, ChunkSize));
                bool ownedByImage = extent.Depth == 0 && extent.Kind != AllocationKind.Unallocated;
                if (!ownedByImage)
                {
                    int n = (int)extent.Length;
                    Span<byte> oldData = oldBuffer.AsSpan(0, n);
                    Span<byte> newData = newBuffer.AsSpan(0, n);
                    ReadPadded(oldBacking, pos, oldData);
                    ReadPadded(newBacking, pos, newData);
                    WriteDifferingSectors(content, pos, oldData, newData);
                }

                pos = extent.End;
                progress?.Report(new ConvertProgress(pos, length));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(oldBuffer);
            ArrayPool<byte>.Shared.Return(newBuffer);
        }
    }

    private static void WriteDifferingSectors(BlockDevice content, long offset, ReadOnlySpan<byte> oldData, ReadOnlySpan<byte> newData)
    {
        int i = 0;
        while (i < oldData.Length)
        {
            int n = Math.Min(SectorSize, oldData.Length - i);
            if (oldData.Slice(i, n).SequenceEqual(newData.Slice(i, n)))
            {
                i += n;
                continue;
            }

            int start = i;
            i += n;
            while (i < oldData.Length)
            {
                n = Math.Min(SectorSize, oldData.Length - i);
                if (oldData.Slice(i, n).SequenceEqual(newData.Slice(i, n)))
                {
                    break;
                }

                i += n;
            }

            content.Write(offset + start, oldData[start..i]);
        }
    }

    private static void ReadPadded(BlockDevice? device, long offset, Span<byte> buffer)
    {
        if (device is null || offset >= device.Length)
        {
            buffer.Clear();
            return;
        }

        int available = (int)Math.Min(buffer.Length, device.Length - offset);
        device.ReadExactly(offset, buffer[..available]);
        buffer[available..].Clear();
    }
}
