using System.Buffers;
using System.Diagnostics;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// Commits an overlay into its backing chain (<c>qemu-img commit</c>): every range allocated above
/// the base (data or zeros, in the top image or an image between it and the base) is written into
/// the base, which grows to the top image's size when it is smaller; then the top image is emptied
/// unless it is kept.
/// </summary>
/// <remarks>
/// The locks are those qemu-img holds while it commits: the top image and the base are locked for
/// writing, the images between them keep no "consistent read" for others (their content changes
/// meaning), and the images below the base for reading. A chain in which one file appears twice
/// under different names (a hard link, a bind mount) is refused before anything is written, so a
/// target is never one of its own inputs.
/// </remarks>
public static class ImageCommitter
{
    private const int ChunkSize = 1024 * 1024;

    /// <summary>Commits the image at <paramref name="path"/> into its backing file (or <see cref="ImageCommitOptions.Base"/>).</summary>
    /// <param name="path">The top image.</param>
    /// <param name="options">The options; null for the defaults.</param>
    /// <param name="progress">Receives bytes of the top image handled out of its virtual size.</param>
    /// <param name="cancellationToken">Stops the commit between chunks (the base then holds part of the data; the top is unchanged).</param>
    /// <exception cref="InvalidOperationException">The image has no backing file.</exception>
    /// <exception cref="ArgumentException"><see cref="ImageCommitOptions.Base"/> is not in the backing chain.</exception>
    /// <exception cref="IOException">Another user holds an image (QEMU's lock message), or a file of the chain is another's alias.</exception>
    public static void Commit(string path, ImageCommitOptions? options = null, IProgress<ConvertProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= ImageCommitOptions.Default;
        if (options.Locking == ImageLocking.ForceShare)
        {
            throw new ArgumentException("A commit writes its images; force-sharing is for read-only opens.", nameof(options));
        }

        using var locks = new HeldImageLocks(options.Locking);
        DiskImageFormat topFormat = options.Format ?? DiskImageFile.DetectFormat(path);
        try
        {
            locks.Take(path, topFormat, writable: true);
        }
        catch (IOException e) when (e.Message.StartsWith("Failed to get", StringComparison.Ordinal))
        {
            throw new IOException($"Could not open '{path}': {e.Message}", e);
        }

        using ImageChain chain = ImageChain.Open(path, options.Format, options.MaxBackingChainDepth);
        int repeated = chain.FindRepeatedFile();
        if (repeated > 0)
        {
            throw new IOException($"Could not open '{path}': Failed to get \"write\" lock\nIs another process using the image [{path}]?");
        }

        // The backing files as the open holds them (read, write and resize not shared by qcow2 layers).
        for (int i = 1; i < chain.Count; i++)
        {
            try
            {
                locks.Take(chain.Names[i], chain.Images[i].Format, writable: false);
            }
            catch (IOException e) when (e.Message.StartsWith("Failed to get", StringComparison.Ordinal))
            {
                throw new IOException($"Could not open '{path}': {string.Concat(Enumerable.Repeat("Could not open backing file: ", i))}{e.Message}", e);
            }
        }

        // qemu-img looks for a named base before it finds there is no backing file at all.
        int baseIndex = options.Base is null ? 1 : chain.Find(options.Base);
        if (baseIndex < 1)
        {
            throw new ArgumentException($"Did not find '{options.Base}' in the backing chain of '{path}'", nameof(options));
        }

        if (chain.Count < 2)
        {
            throw new InvalidOperationException("Image does not have a backing file");
        }

        // The job: the base becomes writable; the images between top and base share no consistent read.
        locks.Release(chain.Names[baseIndex]);
        locks.Take(chain.Names[baseIndex], chain.Images[baseIndex].Format, writable: true);
        for (int i = 1; i < baseIndex; i++)
        {
            locks.Take(chain.Names[i], chain.Images[i].Format, writable: false, QemuPermissions.ConsistentRead);
        }

        bool empty = options.Base is null && !options.KeepTop;
        CopyAboveBase(chain, baseIndex, options.RateLimit, progress, cancellationToken);
        if (empty && chain.Top is Qcow2Image)
        {
            using Qcow2Image top = Qcow2Image.Open(chain.PathOf(0), new DiskImageOpenOptions
            {
                Writable = true,
                BackingFiles = BackingFilePolicy.Allow,
                Locking = ImageLocking.Disabled,
                MaxBackingChainDepth = options.MaxBackingChainDepth,
            });
            top.MakeEmpty();
            top.Flush();
        }
    }

    private static void CopyAboveBase(ImageChain chain, int baseIndex, long rateLimit, IProgress<ConvertProgress>? progress, CancellationToken cancellationToken)
    {
        BlockDevice source = chain.Top.Content;
        long length = source.Length;
        DiskImageFile baseImage = chain.Images[baseIndex];
        using DiskImageFile target = DiskImageFile.Open(chain.PathOf(baseIndex), new DiskImageOpenOptions
        {
            Writable = true,
            Format = baseImage.Format,
            BackingFiles = BackingFilePolicy.Allow,
            Locking = ImageLocking.Disabled,
        });
        BlockDevice content = target.Content;
        if (content.Length < length)
        {
            if (target is Qcow2Image q)
            {
                q.Resize(length);
            }
            else
            {
                content.SetLength(length);
            }
        }

        progress?.Report(new ConvertProgress(0, length));
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        long written = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            long pos = 0;
            while (pos < length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                AllocationExtent extent = source.GetAllocation(pos, Math.Min(length - pos, 1L << 30));
                long end = extent.End;
                if (extent.Depth < baseIndex && extent.Kind != AllocationKind.Unallocated)
                {
                    if (extent.Kind == AllocationKind.Zero)
                    {
                        content.WriteZeroes(pos, end - pos);
                    }
                    else
                    {
                        for (long at = pos; at < end; at += ChunkSize)
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            int n = (int)Math.Min(ChunkSize, end - at);
                            source.ReadExactly(at, buffer.AsSpan(0, n));
                            content.Write(at, buffer.AsSpan(0, n));
                            written += n;
                            Throttle(written, rateLimit, clock, cancellationToken);
                            progress?.Report(new ConvertProgress(at + n, length));
                        }
                    }
                }

                pos = end;
                progress?.Report(new ConvertProgress(pos, length));
            }

            target.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sleeps until <paramref name="written"/> bytes are within <paramref name="rateLimit"/> bytes per second.</summary>
    private static void Throttle(long written, long rateLimit, Stopwatch clock, CancellationToken cancellationToken)
    {
        if (rateLimit <= 0)
        {
            return;
        }

        double due = (double)written / rateLimit;
        double wait = due - clock.Elapsed.TotalSeconds;
        if (wait > 0.001)
        {
            cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(Math.Min(wait, 60)));
        }
    }
}
