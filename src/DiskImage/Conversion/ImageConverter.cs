using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>Converts a guest disk into a new image file (<c>qemu-img convert</c>).</summary>
/// <remarks>
/// The copy is sparse-aware: ranges the source reports as zero or unallocated are not read, and
/// aligned all-zero blocks of <see cref="ConvertOptions.SparseSize"/> bytes (for a qcow2 target,
/// whole clusters) are not written. The source is read, inspected and, with
/// <see cref="ConvertOptions.Compress"/>, compressed on <see cref="ConvertOptions.MaxDegreeOfParallelism"/>
/// worker threads while the calling thread writes the target in guest order, so the output is the
/// same whatever the thread count. Memory stays bounded by a few units of work. The new image is
/// written to a temporary file beside the target and renamed over it when complete; when the
/// conversion fails or is cancelled, the temporary file is deleted and an existing target is left as
/// it was. (Symbolic links and non-regular targets such as device nodes are written in place; a
/// block device is not truncated, and what must read as zeros is zeroed.) A target that is a file the
/// source reads, under any name, is refused with <see cref="ArgumentException"/> before anything is
/// written; any other existing target is refused with <see cref="IOException"/> unless
/// <see cref="ConvertOptions.Overwrite"/> is set. An existing target that may be replaced is write-locked as QEMU locks images, so a target another process uses
/// is refused with <see cref="IOException"/>.
/// </remarks>
public static class ImageConverter
{
    /// <summary>Writes <paramref name="source"/>'s content to a new image at <paramref name="targetPath"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="targetPath"/> names a file the source reads (the source file or, for a qcow2 image's content, any file of its backing chain), by any spelling.</exception>
    /// <exception cref="NotSupportedException">Compression was requested for a target format without compressed clusters, or the qcow2 options name a backing file.</exception>
    /// <exception cref="IOException">The target exists and <see cref="ConvertOptions.Overwrite"/> is false, or another process uses it.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static void Convert(BlockDevice source, string targetPath, ConvertOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(targetPath);
        options ??= new ConvertOptions();
        Validate(source, targetPath, options);
        cancellationToken.ThrowIfCancellationRequested();
        if (!options.Overwrite && (Path.Exists(targetPath) || new FileInfo(targetPath).LinkTarget is not null))
        {
            throw new IOException($"'{targetPath}' already exists; set ConvertOptions.Overwrite to replace it.");
        }

        // A new image is written beside the target and renamed over it on success, so a failed
        // conversion leaves an existing file untouched.
        string fullTarget = Path.GetFullPath(targetPath);
        bool inPlace = WritesInPlace(fullTarget);
        string writePath = inPlace
            ? targetPath
            : Path.Combine(Path.GetDirectoryName(fullTarget) ?? ".", $".{Path.GetFileName(fullTarget)}.{Guid.NewGuid():N}.tmp");
        bool raw = options.TargetFormat == DiskImageFormat.Raw;

        // An existing target that another process (QEMU or DiskImage) uses is refused, as qemu-img
        // refuses it, rather than replaced underneath its user: its write lock is held until the rename.
        using FileBlockDevice? replaced = !inPlace && File.Exists(fullTarget) ? FileBlockDevice.Open(targetPath, writable: true) : null;

        // The old image's cached pages are dropped now rather than when it is deleted after the
        // rename: the new image's pages then reuse that memory (on a virtual machine whose free
        // memory goes back to the host, fresh pages cost a host fault each: several times the copy),
        // and the old and the new image are never both in the cache. Its content is unchanged.
        replaced?.DropCachedPages();
        FileBlockDevice file = FileBlockDevice.Create(writePath, raw ? source.Length : 0, overwrite: inPlace);
        if (file.IsHostBlockDevice && !raw)
        {
            file.Dispose();
            throw new NotSupportedException($"Writing a qcow2 image into the block device '{targetPath}' is not supported; convert to raw.");
        }

        // A block device is written in place and holds old data: zeros must be written there.
        bool targetIsZero = !file.IsHostBlockDevice;
        var host = new DeferredFlushBlockDevice(file);
        bool completed = false;
        try
        {
            using (host)
            {
                if (raw)
                {
                    Copy(source, host, image: null, targetIsZero, options, progress, cancellationToken);
                }
                else
                {
                    // qcow2 sizes are whole 512-byte sectors: a source of another length gets a zero tail, as qemu-img gives it.
                    long virtualSize = source.Length % 512 == 0 ? source.Length : checked(source.Length + 512 - (source.Length % 512));
                    using Qcow2Image image = Qcow2Image.Create(host, virtualSize, options.Qcow2, leaveOpen: true);
                    Copy(source, image.Content, image, targetIsZero: true, options, progress, cancellationToken);
                    image.Flush();
                }

                if (options.FlushToDisk)
                {
                    host.FlushInner();
                }
            }

            if (!inPlace)
            {
                PutInPlace(writePath, fullTarget, replacing: replaced is not null, options);
            }

            completed = true;
        }
        finally
        {
            if (!completed && !inPlace)
            {
                TryDelete(writePath);
            }
        }
    }

    /// <summary>
    /// Gives the new image at <paramref name="writePath"/> the target's name atomically: the name
    /// always reads as the old image or the new one, whole.
    /// </summary>
    /// <remarks>
    /// An existing target is swapped with the new image (Linux renameat2 RENAME_EXCHANGE) and its
    /// old content, now under the temporary name, deleted. A plain rename over it would do the
    /// same, but ext4 (auto_da_alloc, its default) then writes the whole new image back to disk
    /// inside the rename, stalling the conversion for as long as that takes; the exchange leaves the
    /// write-back to the operating system, as for a new target and as qemu-img leaves it.
    /// <see cref="ConvertOptions.FlushToDisk"/> has the data written out before the name changes.
    /// Where the exchange is not available (other systems, file systems without it), the image is
    /// renamed over the target.
    /// </remarks>
    private static void PutInPlace(string writePath, string fullTarget, bool replacing, ConvertOptions options)
    {
        if (replacing && options.Overwrite && LinuxFileInterop.IsSupported && LinuxFileInterop.ExchangeNames(writePath, fullTarget) == 0)
        {
            // writePath now names the old image, which no one can reach by the target's name any more.
            TryDelete(writePath);
            return;
        }

        File.Move(writePath, fullTarget, overwrite: options.Overwrite);
    }

    /// <summary>
    /// Whether the target must be written where it is: an existing symbolic link (written through,
    /// as qemu-img does) or anything that is not a regular file, such as a device node.
    /// </summary>
    private static bool WritesInPlace(string fullTarget)
    {
        var info = new FileInfo(fullTarget);
        if (!info.Exists)
        {
            return false;
        }

        if (info.LinkTarget is not null)
        {
            return true;
        }

        int type = LinuxFileInterop.IsSupported ? LinuxFileInterop.GetFileType(fullTarget) : LinuxFileInterop.RegularFile;
        return type != LinuxFileInterop.RegularFile;
    }

    /// <summary>Asynchronous twin of <see cref="Convert"/>; the conversion runs on dedicated threads.</summary>
    public static Task ConvertAsync(BlockDevice source, string targetPath, ConvertOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(targetPath);
        options ??= new ConvertOptions();
        Validate(source, targetPath, options);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        return Task.Factory.StartNew(
            () => Convert(source, targetPath, options, progress, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private static void Validate(BlockDevice source, string targetPath, ConvertOptions options)
    {
        if (options.TargetFormat is not (DiskImageFormat.Raw or DiskImageFormat.Qcow2))
        {
            throw new NotSupportedException($"Converting to {options.TargetFormat} is not supported.");
        }

        if (options.Compress && options.TargetFormat != DiskImageFormat.Qcow2)
        {
            throw new NotSupportedException($"The {options.TargetFormat} format has no compressed clusters; compression needs a qcow2 target.");
        }

        if (options.Qcow2?.BackingFile is not null)
        {
            // Ranges left unwritten would show the backing file's data instead of the source's zeros.
            throw new NotSupportedException("Converting into an image with a backing file is not supported; convert first, then rebase.");
        }

        if (options.CompressionLevel is int level)
        {
            Qcow2Compression.ValidateLevel(options.Qcow2?.CompressionType ?? Qcow2CompressionType.Deflate, level);
        }

        if (options.SparseSize < 0 || options.SparseSize > BlockCopyOptions.MaxSparseSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SparseSize, $"SparseSize must be between 0 and {BlockCopyOptions.MaxSparseSize}.");
        }

        if (options.MaxDegreeOfParallelism <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDegreeOfParallelism, "MaxDegreeOfParallelism must be positive.");
        }

        // Writing over a file the source reads (through a symbolic link, a hard link, /proc/self/fd
        // or another spelling of its path) would destroy the source: compare by device and inode.
        if (ImageFiles.FindAlias(targetPath, ImageFiles.Of(source)) is { } input)
        {
            throw new ArgumentException($"The target '{targetPath}' is the same file as the source '{input}'; converting would overwrite the data being read.", nameof(targetPath));
        }
    }

    /// <summary>The copy of <see cref="Convert"/>: <paramref name="source"/> into <paramref name="target"/> (the content of <paramref name="image"/> for a qcow2 target).</summary>
    internal static void Copy(BlockDevice source, BlockDevice target, Qcow2Image? image, bool targetIsZero, ConvertOptions options, IProgress<ConvertProgress>? progress, CancellationToken cancellationToken)
    {
        const int ChunkSize = 2 * 1024 * 1024; // qemu-img's buffer size: one host write per 2 MiB of data
        CopySink sink;
        int unit;
        if (image is not null && options.Compress)
        {
            var compressor = new Qcow2CompressSink(image, skipZeroClusters: options.SparseSize > 0, options.CompressionLevel);
            sink = compressor;
            unit = compressor.UnitSize;
        }
        else
        {
            // A partly written qcow2 cluster is allocated whole, so zero detection below a cluster buys nothing.
            int block = options.SparseSize == 0 || image is null ? options.SparseSize : Math.Max(options.SparseSize, image.ClusterSize);
            sink = new DeviceCopySink(target, targetIsZero, block);
            unit = CopyPipeline.PlainUnit(ChunkSize, block);
        }

        using var pipeline = new CopyPipeline(source, sink, unit, options.SparseSize, options.MaxDegreeOfParallelism, progress, cancellationToken);
        pipeline.Run();
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
