using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// A writable copy-on-write view of a read-only base device: written 4 KiB chunks live in memory, the rest is read
/// from the base. Mutations of a hostile-image case are written here, so one base image serves every case, and
/// <see cref="Snapshot"/>/<see cref="SameAs"/> tell whether a writer changed any byte since (the equivalent of hashing
/// the whole device before and after, restricted to the chunks that were written).
/// </summary>
internal sealed class XfsOverlayDevice(BlockDevice baseDevice) : BlockDevice
{
    private const int Chunk = 4096;
    private readonly Dictionary<long, byte[]> _chunks = [];

    public override long Length => baseDevice.Length;

    public override bool CanWrite => true;

    /// <summary>Device writes since creation (each <c>WriteCore</c> call).</summary>
    public int Writes { get; private set; }

    /// <summary>A copy of the current overlay, to compare with later.</summary>
    public Dictionary<long, byte[]> Snapshot()
    {
        var copy = new Dictionary<long, byte[]>(_chunks.Count);
        foreach (KeyValuePair<long, byte[]> kv in _chunks)
        {
            copy[kv.Key] = (byte[])kv.Value.Clone();
        }

        return copy;
    }

    /// <summary>Whether every byte of the device equals what it was when <paramref name="snapshot"/> was taken.</summary>
    public bool SameAs(Dictionary<long, byte[]> snapshot, out long firstDifference)
    {
        byte[] original = new byte[Chunk];
        foreach (KeyValuePair<long, byte[]> kv in _chunks)
        {
            if (!snapshot.TryGetValue(kv.Key, out byte[]? before))
            {
                int n = (int)Math.Min(Chunk, baseDevice.Length - (kv.Key * Chunk));
                baseDevice.ReadExactly(kv.Key * Chunk, original.AsSpan(0, n));
                before = original;
            }

            int diff = kv.Value.AsSpan().CommonPrefixLength(before);
            if (diff < Math.Min(Chunk, baseDevice.Length - (kv.Key * Chunk)))
            {
                firstDifference = (kv.Key * Chunk) + diff;
                return false;
            }
        }

        firstDifference = -1;
        return true;
    }

    /// <summary>Copies the whole device view to a sparse file (for xfs_repair).</summary>
    public void SaveTo(string path)
    {
        using var file = FileBlockDevice.Create(path, Length, overwrite: true);
        byte[] buffer = new byte[1 << 20];
        for (long pos = 0; pos < Length; pos += buffer.Length)
        {
            int n = (int)Math.Min(buffer.Length, Length - pos);
            ReadExactly(pos, buffer.AsSpan(0, n));
            if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                file.Write(pos, buffer.AsSpan(0, n));
            }
        }
    }

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            long pos = offset + done;
            long index = pos / Chunk;
            int within = (int)(pos % Chunk);
            int n = Math.Min(buffer.Length - done, Chunk - within);
            if (_chunks.TryGetValue(index, out byte[]? chunk))
            {
                chunk.AsSpan(within, n).CopyTo(buffer.Slice(done, n));
            }
            else
            {
                // Read straight through to the end of the run of chunks not in the overlay.
                int run = n;
                while (done + run < buffer.Length && !_chunks.ContainsKey((pos + run) / Chunk))
                {
                    run += Math.Min(buffer.Length - done - run, Chunk);
                }

                baseDevice.ReadExactly(pos, buffer.Slice(done, run));
                n = run;
            }

            done += n;
        }
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        Writes++;
        int done = 0;
        while (done < buffer.Length)
        {
            long pos = offset + done;
            long index = pos / Chunk;
            int within = (int)(pos % Chunk);
            int n = Math.Min(buffer.Length - done, Chunk - within);
            if (!_chunks.TryGetValue(index, out byte[]? chunk))
            {
                chunk = new byte[Chunk];
                baseDevice.ReadExactly(index * Chunk, chunk.AsSpan(0, (int)Math.Min(Chunk, baseDevice.Length - (index * Chunk))));
                _chunks[index] = chunk;
            }

            buffer.Slice(done, n).CopyTo(chunk.AsSpan(within, n));
            done += n;
        }
    }

    protected override void FlushCore()
    {
    }
}
