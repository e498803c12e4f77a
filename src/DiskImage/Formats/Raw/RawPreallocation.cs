using DiskImage.IO;
using Microsoft.Win32.SafeHandles;

namespace DiskImage.Formats.Raw;

/// <summary>
/// Space for a new raw image reserved up front, as <c>qemu-img create -f raw -o preallocation=</c>
/// does: <c>falloc</c> allocates the file's blocks without writing them (they read as zeros; the
/// first 4 KiB are written, as QEMU writes them to learn the alignment), <c>full</c> writes zeros
/// over the whole image.
/// </summary>
internal static class RawPreallocation
{
    private const int FirstBlock = 4096;

    /// <summary>Creates (or replaces) <paramref name="path"/> as a raw image of <paramref name="size"/> bytes, preallocated.</summary>
    /// <param name="path">The image file.</param>
    /// <param name="size">The image size in bytes.</param>
    /// <param name="full">Write zeros everywhere (<c>full</c>) instead of allocating (<c>falloc</c>).</param>
    /// <exception cref="IOException">The file cannot be written, or the file system cannot allocate the space.</exception>
    public static void Create(string path, long size, bool full)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
        SafeFileHandle handle = stream.SafeFileHandle;
        if (!full && size > 0 && OperatingSystem.IsLinux())
        {
            int error = LinuxFileInterop.Allocate(handle, 0, size);
            if (error == 0)
            {
                RandomAccess.Write(handle, new byte[(int)Math.Min(FirstBlock, size)], 0);
                stream.Flush(flushToDisk: false);
                return;
            }
        }

        // full, or no fallocate: zeros written (QEMU's falloc falls back to writing too).
        byte[] zeros = new byte[1 << 20];
        for (long at = 0; at < size; at += zeros.Length)
        {
            RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, size - at)), at);
        }

        stream.SetLength(size);
    }
}
