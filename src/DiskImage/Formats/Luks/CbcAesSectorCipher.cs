using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DiskImage.Formats.Luks;

/// <summary>
/// AES-CBC over 512-byte sectors. The IV of a sector is its number (plain64, or its low 32 bits for
/// plain), little-endian and zero-padded; with ESSIV that block is first encrypted with AES keyed by
/// the hash of the data key.
/// </summary>
internal sealed class CbcAesSectorCipher : LuksSectorCipher
{
    private readonly Aes _data;
    private readonly Aes? _essiv;
    private readonly bool _plain64;

    /// <summary>Keys the cipher; <paramref name="essivHash"/> null for a plain IV.</summary>
    public CbcAesSectorCipher(ReadOnlySpan<byte> key, bool plain64, HashAlgorithmName? essivHash)
    {
        _data = Aes.Create();
        _data.Key = key.ToArray();
        _plain64 = plain64;
        if (essivHash is { } hash)
        {
            byte[] salt = new byte[LuksHash.Size(hash)];
            LuksHash.HashData(hash, key, salt);
            if (salt.Length is not (16 or 24 or 32))
            {
                throw new NotSupportedException($"ESSIV with {hash.Name} gives a {salt.Length * 8}-bit key, which AES does not take.");
            }

            _essiv = Aes.Create();
            _essiv.Key = salt;
        }
    }

    /// <inheritdoc />
    public override void Encrypt(Span<byte> data, long firstSector)
    {
        CheckLength(data.Length);
        Span<byte> iv = stackalloc byte[16];
        for (int s = 0; s < data.Length / SectorSize; s++)
        {
            Span<byte> sector = data.Slice(s * SectorSize, SectorSize);
            MakeIv(firstSector + s, iv);
            _data.EncryptCbc(sector, iv, sector, PaddingMode.None);
        }
    }

    /// <inheritdoc />
    public override void Decrypt(Span<byte> data, long firstSector)
    {
        CheckLength(data.Length);
        Span<byte> iv = stackalloc byte[16];
        for (int s = 0; s < data.Length / SectorSize; s++)
        {
            Span<byte> sector = data.Slice(s * SectorSize, SectorSize);
            MakeIv(firstSector + s, iv);
            _data.DecryptCbc(sector, iv, sector, PaddingMode.None);
        }
    }

    private void MakeIv(long sector, Span<byte> iv)
    {
        ulong number = _plain64 ? (ulong)sector : (uint)sector;
        BinaryPrimitives.WriteUInt64LittleEndian(iv, number);
        BinaryPrimitives.WriteUInt64LittleEndian(iv[8..], 0);
        _essiv?.EncryptEcb(iv, iv, PaddingMode.None);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _data.Dispose();
            _essiv?.Dispose();
        }
    }
}
