namespace DiskImage.Formats.Qcow2;

/// <summary>One header extension (spec "Header extensions"): a type, its data, padded to 8 bytes on disk.</summary>
/// <param name="Type">Extension type (<c>u32 type</c>).</param>
/// <param name="Data">Extension payload (<c>length</c> bytes), kept byte-exact.</param>
internal sealed record Qcow2HeaderExtension(uint Type, byte[] Data)
{
    /// <summary>End of the extension area.</summary>
    public const uint EndOfArea = 0x00000000;

    /// <summary>Backing file format name.</summary>
    public const uint BackingFormat = 0xe2792aca;

    /// <summary>Feature name table.</summary>
    public const uint FeatureNameTable = 0x6803f857;

    /// <summary>Persistent dirty bitmaps (kept untouched).</summary>
    public const uint Bitmaps = 0x23852875;

    /// <summary>Full disk encryption header pointer.</summary>
    public const uint FullDiskEncryption = 0x0537be77;

    /// <summary>External data file name ("DATA").</summary>
    public const uint ExternalDataFile = 0x44415441;

    /// <summary>Bytes the extension occupies on disk: 8-byte type/length, data padded to 8.</summary>
    public int DiskSize => 8 + ((Data.Length + 7) & ~7);
}

/// <summary>Type byte of a feature name table entry.</summary>
internal enum Qcow2FeatureType : byte
{
    /// <summary>An incompatible feature bit.</summary>
    Incompatible = 0,

    /// <summary>A compatible feature bit.</summary>
    Compatible = 1,

    /// <summary>An autoclear feature bit.</summary>
    Autoclear = 2,
}

/// <summary>One 48-byte entry of the feature name table extension.</summary>
/// <param name="Type">Which bitmap the bit belongs to.</param>
/// <param name="Bit">Bit number 0–63.</param>
/// <param name="Name">Feature name (up to 46 bytes, zero padded on disk).</param>
internal readonly record struct Qcow2FeatureName(Qcow2FeatureType Type, byte Bit, string Name)
{
    /// <summary>Size of one entry on disk.</summary>
    public const int Size = 48;

    /// <summary>Maximum name length in bytes.</summary>
    public const int NameLength = 46;

    /// <summary>The names qemu-img writes into new version 3 images.</summary>
    public static IReadOnlyList<Qcow2FeatureName> Standard { get; } =
    [
        new(Qcow2FeatureType.Incompatible, 0, "dirty bit"),
        new(Qcow2FeatureType.Incompatible, 1, "corrupt bit"),
        new(Qcow2FeatureType.Incompatible, 2, "external data file"),
        new(Qcow2FeatureType.Incompatible, 3, "compression type"),
        new(Qcow2FeatureType.Incompatible, 4, "extended L2 entries"),
        new(Qcow2FeatureType.Compatible, 0, "lazy refcounts"),
        new(Qcow2FeatureType.Autoclear, 0, "bitmaps"),
        new(Qcow2FeatureType.Autoclear, 1, "raw external data"),
    ];

    /// <summary>Parses the feature name table payload; a trailing partial entry is ignored.</summary>
    public static List<Qcow2FeatureName> ParseTable(ReadOnlySpan<byte> data)
    {
        var list = new List<Qcow2FeatureName>(data.Length / Size);
        for (int i = 0; i + Size <= data.Length; i += Size)
        {
            ReadOnlySpan<byte> name = data.Slice(i + 2, NameLength);
            int nul = name.IndexOf((byte)0);
            if (nul >= 0)
            {
                name = name[..nul];
            }

            list.Add(new((Qcow2FeatureType)data[i], data[i + 1], System.Text.Encoding.UTF8.GetString(name)));
        }

        return list;
    }

    /// <summary>Serializes entries into a feature name table payload.</summary>
    public static byte[] WriteTable(IReadOnlyList<Qcow2FeatureName> entries)
    {
        byte[] data = new byte[entries.Count * Size];
        for (int i = 0; i < entries.Count; i++)
        {
            Span<byte> e = data.AsSpan(i * Size, Size);
            e[0] = (byte)entries[i].Type;
            e[1] = entries[i].Bit;
            System.Text.Encoding.UTF8.GetBytes(entries[i].Name.AsSpan(0, Math.Min(entries[i].Name.Length, NameLength)), e[2..]);
        }

        return data;
    }
}
