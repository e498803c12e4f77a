using DiskImage.Compression;

namespace DiskImage.Lvm;

/// <summary>
/// The one CRC LVM2 uses for the label, the mda_header and the metadata text (<c>calc_crc</c> in
/// lib/misc/crc.c): the reflected CRC-32 polynomial seeded with 0xf597a6cf and no final inversion.
/// </summary>
internal static class LvmCrc
{
    /// <summary><c>INITIAL_CRC</c>.</summary>
    public const uint Initial = 0xf597a6cf;

    /// <summary>The LVM checksum of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(Initial, data);

    /// <summary>Continues an LVM checksum (<paramref name="crc"/> as a previous call returned it) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) =>
        ~Crc32.Append(~crc, data); // zlib's CRC pre- and post-inverts; LVM does neither.
}
