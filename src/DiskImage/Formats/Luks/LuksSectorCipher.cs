namespace DiskImage.Formats.Luks;

/// <summary>
/// Encrypts and decrypts whole 512-byte sectors in place, each with the initialization vector of its
/// sector number (the LUKS payload and key material are addressed in 512-byte sectors).
/// </summary>
internal abstract class LuksSectorCipher : IDisposable
{
    /// <summary>Bytes per encryption sector.</summary>
    public const int SectorSize = 512;

    /// <summary>Encrypts <paramref name="data"/> (a whole number of sectors) in place; its first sector is number <paramref name="firstSector"/>.</summary>
    public abstract void Encrypt(Span<byte> data, long firstSector);

    /// <summary>Decrypts <paramref name="data"/> (a whole number of sectors) in place; its first sector is number <paramref name="firstSector"/>.</summary>
    public abstract void Decrypt(Span<byte> data, long firstSector);

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the cipher's key schedules.</summary>
    protected abstract void Dispose(bool disposing);

    /// <summary>Validates that <paramref name="length"/> is a whole number of sectors.</summary>
    protected static void CheckLength(int length)
    {
        if ((length & (SectorSize - 1)) != 0)
        {
            throw new ArgumentException($"Encrypted data must be a whole number of {SectorSize}-byte sectors ({length} bytes given).", nameof(length));
        }
    }

    /// <summary>
    /// Creates the cipher a LUKS header names: <paramref name="cipherName"/> "aes" with
    /// <paramref name="cipherMode"/> "xts-plain64", "xts-plain", "cbc-plain64", "cbc-plain" or
    /// "cbc-essiv:HASH" (sha1, sha256, sha512).
    /// </summary>
    /// <exception cref="NotSupportedException">The cipher, mode or IV generator is not supported.</exception>
    public static LuksSectorCipher Create(string cipherName, string cipherMode, ReadOnlySpan<byte> key)
    {
        if (cipherName != "aes")
        {
            throw new NotSupportedException($"LUKS cipher '{cipherName}' is not supported (only aes).");
        }

        int dash = cipherMode.IndexOf('-', StringComparison.Ordinal);
        string mode = dash < 0 ? cipherMode : cipherMode[..dash];
        string ivgen = dash < 0 ? "plain" : cipherMode[(dash + 1)..];
        bool plain64 = ivgen == "plain64";
        switch (mode)
        {
            case "xts" when ivgen is "plain64" or "plain":
                if (key.Length is not (32 or 64))
                {
                    throw new NotSupportedException($"AES-XTS needs a 256- or 512-bit key ({key.Length * 8} bits given).");
                }

                return new XtsAesSectorCipher(key, plain64);
            case "cbc" when ivgen is "plain64" or "plain" || ivgen.StartsWith("essiv:", StringComparison.Ordinal):
                if (key.Length is not (16 or 24 or 32))
                {
                    throw new NotSupportedException($"AES-CBC needs a 128-, 192- or 256-bit key ({key.Length * 8} bits given).");
                }

                return ivgen.StartsWith("essiv:", StringComparison.Ordinal)
                    ? new CbcAesSectorCipher(key, plain64: true, LuksHash.Parse(ivgen["essiv:".Length..]))
                    : new CbcAesSectorCipher(key, plain64, null);
            default:
                throw new NotSupportedException($"LUKS cipher mode '{cipherMode}' is not supported (xts-plain64, xts-plain, cbc-plain64, cbc-plain and cbc-essiv:HASH are).");
        }
    }
}
