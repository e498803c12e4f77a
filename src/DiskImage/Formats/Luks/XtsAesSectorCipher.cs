using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace DiskImage.Formats.Luks;

/// <summary>
/// AES-XTS (IEEE 1619) over 512-byte sectors with the plain64 (or 32-bit plain) IV: the tweak of a
/// sector is its number, little-endian, encrypted with the second half of the key. Whole runs of
/// sectors go through one ECB call on the data key, so the per-block work is two XORs.
/// </summary>
internal sealed class XtsAesSectorCipher : LuksSectorCipher
{
    private const int ChunkBytes = 64 * 1024;
    private readonly Aes _data;
    private readonly Aes _tweak;
    private readonly bool _plain64;

    /// <summary>Keys the cipher: the first half of <paramref name="key"/> encrypts data, the second half the tweaks.</summary>
    public XtsAesSectorCipher(ReadOnlySpan<byte> key, bool plain64)
    {
        int half = key.Length / 2;
        _data = Aes.Create();
        _data.Key = key[..half].ToArray();
        _tweak = Aes.Create();
        _tweak.Key = key[half..].ToArray();
        _plain64 = plain64;
    }

    /// <inheritdoc />
    public override void Encrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: true);

    /// <inheritdoc />
    public override void Decrypt(Span<byte> data, long firstSector) => Transform(data, firstSector, encrypt: false);

    private void Transform(Span<byte> data, long firstSector, bool encrypt)
    {
        CheckLength(data.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(Math.Min(data.Length, ChunkBytes));
        try
        {
            while (!data.IsEmpty)
            {
                int n = Math.Min(data.Length, ChunkBytes);
                Span<byte> chunk = data[..n];
                Span<byte> tweaks = rented.AsSpan(0, n);
                FillTweaks(tweaks, firstSector);
                Xor(chunk, tweaks);
                if (encrypt)
                {
                    _data.EncryptEcb(chunk, chunk, PaddingMode.None);
                }
                else
                {
                    _data.DecryptEcb(chunk, chunk, PaddingMode.None);
                }

                Xor(chunk, tweaks);
                data = data[n..];
                firstSector += n / SectorSize;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The tweak of every 16-byte block of the sectors in <paramref name="tweaks"/>.</summary>
    private void FillTweaks(Span<byte> tweaks, long firstSector)
    {
        int sectors = tweaks.Length / SectorSize;
        // First the encrypted IV of each sector, gathered at the sector's first block, in one ECB call.
        Span<byte> ivs = tweaks[..(sectors * 16)];
        for (int s = 0; s < sectors; s++)
        {
            ulong number = (ulong)(firstSector + s);
            if (!_plain64)
            {
                number &= uint.MaxValue;
            }

            BinaryPrimitives.WriteUInt64LittleEndian(ivs[(s * 16)..], number);
            BinaryPrimitives.WriteUInt64LittleEndian(ivs[((s * 16) + 8)..], 0);
        }

        _tweak.EncryptEcb(ivs, ivs, PaddingMode.None);

        // Spread backwards so no IV is overwritten before it is used, then multiply by alpha per block.
        for (int s = sectors - 1; s >= 0; s--)
        {
            Span<ulong> t = MemoryMarshal.Cast<byte, ulong>(tweaks.Slice(s * SectorSize, SectorSize));
            ulong lo = BinaryPrimitives.ReadUInt64LittleEndian(ivs[(s * 16)..]);
            ulong hi = BinaryPrimitives.ReadUInt64LittleEndian(ivs[((s * 16) + 8)..]);
            for (int b = 0; b < SectorSize / 16; b++)
            {
                t[2 * b] = BitConverter.IsLittleEndian ? lo : BinaryPrimitives.ReverseEndianness(lo);
                t[(2 * b) + 1] = BitConverter.IsLittleEndian ? hi : BinaryPrimitives.ReverseEndianness(hi);
                // Multiply by x in GF(2^128) with the little-endian convention of IEEE 1619.
                ulong carry = hi >> 63;
                hi = (hi << 1) | (lo >> 63);
                lo = (lo << 1) ^ (carry * 0x87);
            }
        }
    }

    private static void Xor(Span<byte> data, ReadOnlySpan<byte> with)
    {
        Span<ulong> d = MemoryMarshal.Cast<byte, ulong>(data);
        ReadOnlySpan<ulong> w = MemoryMarshal.Cast<byte, ulong>(with);
        for (int i = 0; i < d.Length; i++)
        {
            d[i] ^= w[i];
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _data.Dispose();
            _tweak.Dispose();
        }
    }
}
