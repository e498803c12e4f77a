namespace DiskImage.FileSystems.Xfs;

/// <summary>A read-only, seekable view of a regular file; holes and unwritten extents read as zeros.</summary>
internal sealed class XfsFileStream(XfsVolume volume, long length, XfsExtent[] extents) : ReadOnlyFileStream(length), ISparseReadStream
{
    /// <inheritdoc />
    public long NextDataOffset(long position)
    {
        ThrowIfDisposed();
        ThrowIfRetired();
        long length = Length;
        if (position >= length)
        {
            return length;
        }

        position = Math.Max(0, position);
        int blockSize = volume.BlockSize;
        int index = XfsBlockMap.Find(extents, (ulong)(position / blockSize));
        if (index >= 0 && !extents[index].Unwritten)
        {
            return position;
        }

        // The next written extent, skipping unwritten ones (they read as zeros).
        for (int next = index >= 0 ? index + 1 : ~index; next < extents.Length; next++)
        {
            if (!extents[next].Unwritten)
            {
                return Math.Min(length, ByteOffset(extents[next].FileBlock, blockSize));
            }
        }

        return length;
    }

    protected override void ReadAt(long position, Span<byte> buffer)
    {
        ThrowIfRetired();
        int blockSize = volume.BlockSize;
        int done = 0;
        while (done < buffer.Length)
        {
            long pos = position + done;
            ulong block = (ulong)(pos / blockSize);
            int index = XfsBlockMap.Find(extents, block);
            int n;
            if (index >= 0)
            {
                XfsExtent e = extents[index];
                n = (int)Math.Min(buffer.Length - done, ByteOffset(e.FileBlock + e.Length, blockSize) - pos);
                if (e.Unwritten)
                {
                    buffer.Slice(done, n).Clear();
                }
                else
                {
                    long host = volume.SuperBlock.BlockOffset(e.FsBlock) + (long)((block - e.FileBlock) * (ulong)blockSize) + (pos % blockSize);
                    volume.Device.ReadExactly(host, buffer.Slice(done, n));
                }
            }
            else
            {
                int next = ~index;
                long holeEnd = next < extents.Length ? ByteOffset(extents[next].FileBlock, blockSize) : long.MaxValue;
                n = (int)Math.Min(buffer.Length - done, holeEnd - pos);
                buffer.Slice(done, n).Clear();
            }

            done += n;
        }
    }

    private void ThrowIfRetired()
    {
        if (volume.Retired)
        {
            throw new IOException("The XFS file system was written back (flushed) since this stream was opened; open the file again.");
        }
    }

    /// <summary>The byte offset of a file block, saturated at <see cref="long.MaxValue"/> (file blocks reach 2^54).</summary>
    private static long ByteOffset(ulong fileBlock, int blockSize) =>
        fileBlock >= (ulong)(long.MaxValue / blockSize) ? long.MaxValue : (long)fileBlock * blockSize;
}
