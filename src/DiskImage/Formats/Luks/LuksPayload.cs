using System.Buffers;
using DiskImage.IO;

namespace DiskImage.Formats.Luks;

/// <summary>Writes host bytes for a <see cref="LuksPayload"/> (a qcow2 image grows its file through its own writer).</summary>
internal delegate void LuksHostWriter(long offset, ReadOnlySpan<byte> data);

/// <summary>
/// Encrypted bytes in a host device: reads decrypt, writes encrypt, with the sector number of a host
/// byte being <c>(offset - origin) / 512</c>. Unaligned reads and writes go through whole sectors
/// (a write reads, decrypts and merges its ragged first and last sector). Chunks of at most 1 MiB are
/// encrypted in a pooled buffer, so the caller's data is never changed.
/// </summary>
internal sealed class LuksPayload : IDisposable
{
    private const int Sector = LuksSectorCipher.SectorSize;
    private const int ChunkBytes = 1 << 20;
    private readonly LuksSectorCipher _cipher;
    private readonly long _origin;

    /// <summary>Takes ownership of <paramref name="cipher"/>; host byte <paramref name="origin"/> starts sector 0.</summary>
    public LuksPayload(LuksSectorCipher cipher, long origin)
    {
        _cipher = cipher;
        _origin = origin;
    }

    /// <summary>Reads and decrypts <paramref name="buffer"/>.Length bytes at host <paramref name="offset"/> (bytes past the host's end are ciphertext zeros).</summary>
    public void Read(BlockDevice host, long offset, Span<byte> buffer)
    {
        long rel = offset - _origin;
        if ((rel & (Sector - 1)) == 0 && (buffer.Length & (Sector - 1)) == 0)
        {
            ReadSectors(host, offset, buffer);
            return;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Min(ChunkBytes + (2 * Sector), AlignUp(buffer.Length + Sector)));
        try
        {
            while (!buffer.IsEmpty)
            {
                long start = offset - ((offset - _origin) & (Sector - 1));
                int head = (int)(offset - start);
                int n = Math.Min(buffer.Length, ChunkBytes);
                int length = AlignUp(head + n);
                Span<byte> span = rented.AsSpan(0, length);
                ReadSectors(host, start, span);
                span.Slice(head, n).CopyTo(buffer);
                buffer = buffer[n..];
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Encrypts <paramref name="data"/> and writes it at host <paramref name="offset"/> through <paramref name="write"/>.</summary>
    public void Write(BlockDevice host, long offset, ReadOnlySpan<byte> data, LuksHostWriter write)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Min(ChunkBytes + (2 * Sector), AlignUp(data.Length + Sector)));
        try
        {
            while (!data.IsEmpty)
            {
                long start = offset - ((offset - _origin) & (Sector - 1));
                int head = (int)(offset - start);
                int n = Math.Min(data.Length, ChunkBytes);
                int length = AlignUp(head + n);
                Span<byte> span = rented.AsSpan(0, length);
                if (head != 0)
                {
                    ReadSectors(host, start, span[..Sector]);
                }

                if (((head + n) & (Sector - 1)) != 0 && (head == 0 || length > Sector))
                {
                    ReadSectors(host, start + length - Sector, span[(length - Sector)..]);
                }

                data[..n].CopyTo(span[head..]);
                _cipher.Encrypt(span, (start - _origin) / Sector);
                write(start, span);
                data = data[n..];
                offset += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void ReadSectors(BlockDevice host, long offset, Span<byte> buffer)
    {
        int n = host.Read(offset, buffer);
        if (n < buffer.Length)
        {
            buffer[n..].Clear();
        }

        _cipher.Decrypt(buffer, (offset - _origin) / Sector);
    }

    private static int AlignUp(int value) => (value + Sector - 1) & ~(Sector - 1);

    /// <inheritdoc />
    public void Dispose() => _cipher.Dispose();
}
