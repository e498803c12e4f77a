using System.Buffers;
using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Copies a scratch build of a whole XFS file system onto the device it replaces, failure-atomically as far as the
/// device lets it: only the 4 KiB pieces whose bytes differ are written, and their current bytes are saved to an undo
/// file first. The primary superblock is first rewritten with the <c>needsrepair</c> incompatible feature set (so that
/// an interrupted copy — a killed process, a power loss — leaves a file system that the kernel refuses to mount,
/// <c>xfs_repair</c> reports and our writer refuses to open), then the changed pieces are written, and the new
/// superblock goes last, each step behind a device flush. When a write or flush throws, every piece written so far
/// (and the superblock) is put back from the undo file; only when that fails too is the device left inconsistent.
/// </summary>
internal sealed class XfsCopyBack : IDisposable
{
    private const int Chunk = 1 << 20;
    private const int Piece = 4096;
    private const int IncompatibleOffset = 0xD8;
    private const int CrcOffset = 0xE0;

    private readonly BlockDevice _device;
    private readonly BlockDevice _scratch;
    private readonly int _sectorSize;
    private readonly List<(long Offset, long Length)> _runs = [];
    private readonly FileStream _undo;
    private readonly byte[] _oldSuper;
    private readonly byte[] _newSuper;

    private XfsCopyBack(BlockDevice device, BlockDevice scratch, int sectorSize)
    {
        _device = device;
        _scratch = scratch;
        _sectorSize = sectorSize;
        _oldSuper = new byte[sectorSize];
        _newSuper = new byte[sectorSize];
        string path = Path.Combine(Path.GetTempPath(), "diskimage-xfs-" + Guid.NewGuid().ToString("N") + ".undo");
        _undo = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
    }

    /// <summary>
    /// Copies what differs in <paramref name="ranges"/> (sorted, disjoint) from <paramref name="scratch"/> onto
    /// <paramref name="device"/>; returns the number of bytes written (0 when the device already holds the build).
    /// </summary>
    /// <param name="device">The device holding the file system the build replaces.</param>
    /// <param name="scratch">The build, at the same offsets.</param>
    /// <param name="ranges">The ranges the build wrote.</param>
    /// <param name="sectorSize">The superblock's sector size (<c>sb_sectsize</c>).</param>
    /// <param name="deviceConsistent">Set to false when a failed copy could not be undone.</param>
    /// <exception cref="IOException">
    /// Reading or writing failed. When <paramref name="deviceConsistent"/> is still true, the device holds the file system
    /// as before the call; otherwise it may be a mix of both (marked <c>needsrepair</c> if that write went through).
    /// </exception>
    public static long Run(BlockDevice device, BlockDevice scratch, List<(long Offset, long Length)> ranges, int sectorSize, ref bool deviceConsistent)
    {
        using var copy = new XfsCopyBack(device, scratch, sectorSize);
        copy.SaveOriginals(ranges);
        return copy.Write(ref deviceConsistent);
    }

    /// <inheritdoc />
    public void Dispose() => _undo.Dispose();

    /// <summary>Finds the pieces that differ (the superblock sector apart) and saves the device's bytes of each.</summary>
    private void SaveOriginals(List<(long Offset, long Length)> ranges)
    {
        _device.ReadExactly(0, _oldSuper);
        _scratch.ReadExactly(0, _newSuper);
        byte[] built = ArrayPool<byte>.Shared.Rent(Chunk);
        byte[] current = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            foreach ((long offset, long length) in ranges)
            {
                for (long done = 0; done < length;)
                {
                    int n = (int)Math.Min(Chunk, length - done);
                    long at = offset + done;
                    _scratch.ReadExactly(at, built.AsSpan(0, n));
                    _device.ReadExactly(at, current.AsSpan(0, n));
                    for (int p = 0; p < n;)
                    {
                        long abs = at + p;
                        long boundary = abs < _sectorSize ? _sectorSize : (abs / Piece * Piece) + Piece;
                        int len = (int)Math.Min(boundary - abs, n - p);
                        if (abs >= _sectorSize && !built.AsSpan(p, len).SequenceEqual(current.AsSpan(p, len)))
                        {
                            AddRun(abs, len);
                            _undo.Write(current, p, len);
                        }

                        p += len;
                    }

                    done += n;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(built);
            ArrayPool<byte>.Shared.Return(current);
        }

        _undo.Flush();
    }

    private void AddRun(long offset, int length)
    {
        if (_runs.Count > 0 && _runs[^1].Offset + _runs[^1].Length == offset && _runs[^1].Length + length <= Chunk)
        {
            _runs[^1] = (_runs[^1].Offset, _runs[^1].Length + length);
        }
        else
        {
            _runs.Add((offset, length));
        }
    }

    private long Write(ref bool deviceConsistent)
    {
        if (_runs.Count == 0 && _oldSuper.AsSpan().SequenceEqual(_newSuper))
        {
            return 0;
        }

        byte[] marker = (byte[])_oldSuper.Clone();
        uint incompatible = BinaryPrimitives.ReadUInt32BigEndian(marker.AsSpan(IncompatibleOffset));
        BinaryPrimitives.WriteUInt32BigEndian(marker.AsSpan(IncompatibleOffset), incompatible | (uint)XfsIncompatibleFeatures.NeedsRepair);
        XfsChecksum.Update(marker, CrcOffset);
        int attempted = -1;
        bool superTouched = false;
        long written = 0;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            superTouched = true;
            _device.Write(0, marker);
            _device.Flush();
            for (int i = 0; i < _runs.Count; i++)
            {
                attempted = i;
                (long offset, long length) = _runs[i];
                Span<byte> data = buf.AsSpan(0, (int)length);
                _scratch.ReadExactly(offset, data);
                _device.Write(offset, data);
                written += length;
            }

            _device.Flush();
            _device.Write(0, _newSuper);
            _device.Flush();
            return written + _sectorSize;
        }
        catch (Exception e)
        {
            try
            {
                Restore(attempted, superTouched, buf);
            }
            catch (Exception restoreError)
            {
                deviceConsistent = false;
                throw new IOException(
                    "Writing the XFS file system back failed, and putting the overwritten blocks back failed too: the file system on the " +
                    "device may be inconsistent (marked needsrepair where that write went through); run xfs_repair. First error: " + e.Message,
                    new AggregateException(e, restoreError));
            }

            throw new IOException(
                "Writing the XFS file system back failed; the device was restored to its state before the flush and the changes are still pending: " + e.Message, e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>Puts back the saved bytes of runs 0..<paramref name="lastRun"/>, then the old superblock, then flushes.</summary>
    private void Restore(int lastRun, bool superTouched, byte[] buf)
    {
        _undo.Position = 0;
        for (int i = 0; i <= lastRun; i++)
        {
            (long offset, long length) = _runs[i];
            Span<byte> data = buf.AsSpan(0, (int)length);
            _undo.ReadExactly(data);
            _device.Write(offset, data);
        }

        _device.Flush();
        if (superTouched)
        {
            _device.Write(0, _oldSuper);
            _device.Flush();
        }
    }
}
