using System.Buffers.Binary;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// One file or subdirectory of a FAT directory: its name (the long name when a valid LFN run precedes the
/// short entry, else the short name), the 32-byte short entry's fields (fatgen103 §6), and where its slots
/// are in the directory.
/// </summary>
internal sealed class FatDirectoryEntry
{
    /// <summary>The name shown (long name, or short name with the NTRes case applied).</summary>
    public required string Name { get; init; }

    /// <summary>The short name as displayed ("LONGNA~1.TXT"), for lookups by alias.</summary>
    public required string ShortName { get; init; }

    /// <summary>The 11 bytes of <c>DIR_Name</c>.</summary>
    public required byte[] RawShortName { get; init; }

    /// <summary>Index of the short entry's 32-byte slot in the directory.</summary>
    public required int Slot { get; init; }

    /// <summary>Number of LFN slots right before <see cref="Slot"/> that belong to this entry.</summary>
    public required int LongNameSlots { get; init; }

    /// <summary><c>DIR_Attr</c>.</summary>
    public FatAttributes Attributes { get; set; }

    /// <summary><c>DIR_NTRes</c>.</summary>
    public byte NtCase { get; set; }

    /// <summary><c>DIR_CrtTimeTenth</c> (hundredths, 0–199).</summary>
    public byte CreationHundredths { get; set; }

    /// <summary><c>DIR_CrtTime</c>.</summary>
    public ushort CreationTime { get; set; }

    /// <summary><c>DIR_CrtDate</c>.</summary>
    public ushort CreationDate { get; set; }

    /// <summary><c>DIR_LstAccDate</c>.</summary>
    public ushort AccessDate { get; set; }

    /// <summary><c>DIR_WrtTime</c>.</summary>
    public ushort WriteTime { get; set; }

    /// <summary><c>DIR_WrtDate</c>.</summary>
    public ushort WriteDate { get; set; }

    /// <summary><c>DIR_FstClusHI</c> and <c>DIR_FstClusLO</c>.</summary>
    public uint FirstCluster { get; set; }

    /// <summary><c>DIR_FileSize</c>.</summary>
    public uint Size { get; set; }

    /// <summary>Whether this is a subdirectory.</summary>
    public bool IsDirectory => (Attributes & FatAttributes.Directory) != 0;

    /// <summary>Reads the fields of a short entry.</summary>
    public static FatDirectoryEntry Parse(ReadOnlySpan<byte> e, string? longName, int slot, int longNameSlots, bool fat32)
    {
        byte nt = e[12];
        string shortName = FatNames.DecodeShortName(e, 0);
        return new FatDirectoryEntry
        {
            Name = longName ?? FatNames.DecodeShortName(e, nt),
            ShortName = shortName,
            RawShortName = e[..11].ToArray(),
            Slot = slot,
            LongNameSlots = longName is null ? 0 : longNameSlots,
            Attributes = (FatAttributes)e[11],
            NtCase = nt,
            CreationHundredths = e[13],
            CreationTime = BinaryPrimitives.ReadUInt16LittleEndian(e[14..]),
            CreationDate = BinaryPrimitives.ReadUInt16LittleEndian(e[16..]),
            AccessDate = BinaryPrimitives.ReadUInt16LittleEndian(e[18..]),
            WriteTime = BinaryPrimitives.ReadUInt16LittleEndian(e[22..]),
            WriteDate = BinaryPrimitives.ReadUInt16LittleEndian(e[24..]),
            FirstCluster = (fat32 ? (uint)BinaryPrimitives.ReadUInt16LittleEndian(e[20..]) << 16 : 0) | BinaryPrimitives.ReadUInt16LittleEndian(e[26..]),
            Size = BinaryPrimitives.ReadUInt32LittleEndian(e[28..]),
        };
    }

    /// <summary>Writes the short entry's 32 bytes.</summary>
    public void WriteTo(Span<byte> e)
    {
        RawShortName.CopyTo(e);
        e[11] = (byte)Attributes;
        e[12] = NtCase;
        e[13] = CreationHundredths;
        BinaryPrimitives.WriteUInt16LittleEndian(e[14..], CreationTime);
        BinaryPrimitives.WriteUInt16LittleEndian(e[16..], CreationDate);
        BinaryPrimitives.WriteUInt16LittleEndian(e[18..], AccessDate);
        BinaryPrimitives.WriteUInt16LittleEndian(e[20..], (ushort)(FirstCluster >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(e[22..], WriteTime);
        BinaryPrimitives.WriteUInt16LittleEndian(e[24..], WriteDate);
        BinaryPrimitives.WriteUInt16LittleEndian(e[26..], (ushort)FirstCluster);
        BinaryPrimitives.WriteUInt32LittleEndian(e[28..], IsDirectory ? 0 : Size);
    }
}
