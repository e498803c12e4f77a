namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// A read stream over a file of an <see cref="XfsWritableTree"/> whose content is on the device: it follows the file to
/// its new inode when a flush rewrites the device, so it stays valid across flushes. Once the file has been written to
/// (its content moved into memory), reading throws <see cref="IOException"/>: open it again.
/// </summary>
internal sealed class XfsTreeReadStream(XfsWritableTree tree, long treeInode, long length) : ReadOnlyFileStream(length), ISparseReadStream
{
    private Stream? _inner;
    private int _generation = -1;

    /// <inheritdoc />
    public long NextDataOffset(long position)
    {
        ThrowIfDisposed();
        return Current() is ISparseReadStream sparse ? sparse.NextDataOffset(position) : Math.Min(Math.Max(0, position), Length);
    }

    protected override void ReadAt(long position, Span<byte> buffer)
    {
        Stream inner = Current();
        inner.Position = position;
        inner.ReadExactly(buffer);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner?.Dispose();
            _inner = null;
        }

        base.Dispose(disposing);
    }

    /// <summary>The stream over the file's content as the device holds it now.</summary>
    private Stream Current()
    {
        if (_inner is null || _generation != tree.Generation)
        {
            _inner?.Dispose();
            _inner = null;
            _inner = tree.OpenOnDevice(treeInode) ??
                throw new IOException("The XFS file was written or deleted since this stream was opened; open it again.");
            _generation = tree.Generation;
        }

        return _inner;
    }
}
