namespace DiskImage.Formats.Luks;

/// <summary>One of the eight LUKS1 key slots (on-disk format section 2.3, 48 bytes each, big-endian).</summary>
/// <param name="Active">The slot holds a key (<c>active</c> = 0x00AC71F3; 0x0000DEAD when disabled).</param>
/// <param name="Iterations">PBKDF2 iterations of the passphrase (<c>iterations</c>).</param>
/// <param name="Salt">32-byte PBKDF2 salt (<c>salt</c>).</param>
/// <param name="KeyMaterialOffset">Start of the split key material in 512-byte sectors from the header (<c>key-material-offset</c>).</param>
/// <param name="Stripes">Anti-forensic stripes (<c>stripes</c>).</param>
internal readonly record struct LuksKeySlot(bool Active, uint Iterations, byte[] Salt, uint KeyMaterialOffset, uint Stripes)
{
    /// <summary>Bytes of one slot on disk.</summary>
    public const int Size = 48;

    /// <summary>The <c>active</c> value of an enabled slot.</summary>
    public const uint Enabled = 0x00AC71F3;

    /// <summary>The <c>active</c> value of a disabled slot.</summary>
    public const uint Disabled = 0x0000DEAD;
}
