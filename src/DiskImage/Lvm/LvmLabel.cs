using System.Buffers.Binary;
using System.Text;
using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// The LVM2 physical volume label: the label_header (<c>LABELONE</c>, in one of the first four 512-byte
/// sectors) and the pv_header after it (PV UUID, device size, data and metadata area lists, extension).
/// </summary>
/// <remarks>lib/label/label.h (<c>struct label_header</c>), lib/format_text/layout.h (<c>struct pv_header</c>, <c>pv_header_extension</c>).</remarks>
internal sealed class LvmLabel
{
    /// <summary>The label sector size (<c>LABEL_SIZE</c>).</summary>
    public const int SectorSize = 512;

    /// <summary>How many sectors are scanned for a label (<c>LABEL_SCAN_SECTORS</c>).</summary>
    public const int ScanSectors = 4;

    /// <summary>The pv_header offset inside the label sector that pvcreate writes.</summary>
    private const int PvHeaderOffset = 32;

    /// <summary>The pv_header_extension version lvm2 2.02.116+ writes.</summary>
    private const uint CurrentExtensionVersion = 2;

    /// <summary>pv_header_extension flag: the PV belongs to a VG (<c>PV_EXT_USED</c>).</summary>
    public const uint ExtensionUsed = 1;

    private static ReadOnlySpan<byte> LabelId => "LABELONE"u8;

    private static ReadOnlySpan<byte> LabelType => "LVM2 001"u8;

    public LvmLabel(int sector, string uuid, ulong deviceSize, IReadOnlyList<LvmDiskLocation> dataAreas, IReadOnlyList<LvmDiskLocation> metadataAreas, uint extensionVersion, uint extensionFlags)
    {
        Sector = sector;
        Uuid = uuid;
        DeviceSize = deviceSize;
        DataAreas = dataAreas;
        MetadataAreas = metadataAreas;
        HeaderExtensionVersion = extensionVersion;
        ExtensionFlags = extensionFlags;
    }

    /// <summary>The sector (0–3) the label is in.</summary>
    public int Sector { get; }

    /// <summary>The PV UUID: 32 characters without hyphens (<c>pv_uuid</c>).</summary>
    public string Uuid { get; }

    /// <summary><c>device_size_xl</c>, in bytes.</summary>
    public ulong DeviceSize { get; }

    /// <summary>The data areas (one in practice: offset = pe_start, size 0 = to the end).</summary>
    public IReadOnlyList<LvmDiskLocation> DataAreas { get; }

    /// <summary>The metadata areas (each begins with an mda_header).</summary>
    public IReadOnlyList<LvmDiskLocation> MetadataAreas { get; }

    /// <summary>The pv_header_extension version (0 when the label has none).</summary>
    public uint HeaderExtensionVersion { get; }

    /// <summary>The pv_header_extension flags (<see cref="ExtensionUsed"/>).</summary>
    public uint ExtensionFlags { get; }

    /// <summary>
    /// Reads the label of <paramref name="device"/>, or returns null when none of the first four sectors
    /// starts with <c>LABELONE</c> and the LVM2 type.
    /// </summary>
    /// <exception cref="InvalidDataException">A label is there but its CRC, sector number or pv_header is wrong.</exception>
    public static LvmLabel? TryRead(BlockDevice device)
    {
        if (device.Length < ScanSectors * SectorSize)
        {
            return null;
        }

        Span<byte> sector = stackalloc byte[SectorSize];
        for (int i = 0; i < ScanSectors; i++)
        {
            long at = (long)i * SectorSize;
            device.ReadExactly(at, sector);
            if (!sector[..8].SequenceEqual(LabelId) || !sector.Slice(24, 8).SequenceEqual(LabelType))
            {
                continue;
            }

            return Parse(sector, i, device.Length);
        }

        return null;
    }

    /// <summary>Whether <paramref name="device"/> carries a well-formed label (never throws for bad data).</summary>
    public static bool Probe(BlockDevice device)
    {
        try
        {
            return TryRead(device) is not null;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    private static LvmLabel Parse(ReadOnlySpan<byte> sector, int index, long deviceLength)
    {
        long at = (long)index * SectorSize;
        const string Structure = "LVM2 label";
        ulong sectorXl = BinaryPrimitives.ReadUInt64LittleEndian(sector[8..]);
        if (sectorXl != (ulong)index)
        {
            FormatError.Throw(Structure, at, $"sector_xl is {sectorXl}, but the label is in sector {index}");
        }

        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(sector[16..]);
        uint actual = LvmCrc.Compute(sector[20..]);
        if (crc != actual)
        {
            FormatError.Throw(Structure, at, $"crc_xl 0x{crc:x8} does not match the contents (0x{actual:x8})");
        }

        uint offset = BinaryPrimitives.ReadUInt32LittleEndian(sector[20..]);
        if (offset < 32 || offset > SectorSize - 48)
        {
            FormatError.Throw(Structure, at, $"offset_xl {offset} leaves no room for a pv_header");
        }

        ReadOnlySpan<byte> pv = sector[(int)offset..];
        ReadOnlySpan<byte> uuidBytes = pv[..32];
        foreach (byte b in uuidBytes)
        {
            if (!LvmUuid.IsIdCharacter(b))
            {
                FormatError.Throw(Structure, at + offset, "pv_uuid holds a character outside [0-9A-Za-z!#]");
            }
        }

        string uuid = Encoding.ASCII.GetString(uuidBytes);
        ulong deviceSize = BinaryPrimitives.ReadUInt64LittleEndian(pv[32..]);
        int pos = 40;
        List<LvmDiskLocation> data = ReadList(pv, ref pos, at + offset, deviceLength);
        List<LvmDiskLocation> mdas = ReadList(pv, ref pos, at + offset, deviceLength);
        uint version = 0, flags = 0;
        if (pos + 8 <= pv.Length)
        {
            version = BinaryPrimitives.ReadUInt32LittleEndian(pv[pos..]);
            flags = BinaryPrimitives.ReadUInt32LittleEndian(pv[(pos + 4)..]);
        }

        if (data.Count == 0)
        {
            FormatError.Throw(Structure, at + offset, "the pv_header lists no data area");
        }

        foreach (LvmDiskLocation m in mdas)
        {
            if (m.Offset < (ulong)(ScanSectors * SectorSize) || m.Size < 1024 || m.Offset > (ulong)deviceLength || m.Size > (ulong)deviceLength - m.Offset)
            {
                FormatError.Throw(Structure, at + offset, $"metadata area [{m.Offset}, +{m.Size}) does not lie within the device ({deviceLength} bytes) after the label");
            }
        }

        return new LvmLabel(index, uuid, deviceSize, data, mdas, version, flags);
    }

    private static List<LvmDiskLocation> ReadList(ReadOnlySpan<byte> pv, ref int pos, long at, long deviceLength)
    {
        var list = new List<LvmDiskLocation>();
        while (true)
        {
            if (pos + 16 > pv.Length)
            {
                FormatError.Throw("LVM2 pv_header", at, "a disk_locn list runs past the label sector without its {0, 0} terminator");
            }

            ulong o = BinaryPrimitives.ReadUInt64LittleEndian(pv[pos..]);
            ulong s = BinaryPrimitives.ReadUInt64LittleEndian(pv[(pos + 8)..]);
            pos += 16;
            if (o == 0 && s == 0)
            {
                return list;
            }

            if (o > (ulong)deviceLength)
            {
                FormatError.Throw("LVM2 pv_header", at, $"a disk_locn offset {o} lies beyond the device ({deviceLength} bytes)");
            }

            list.Add(new LvmDiskLocation(o, s));
        }
    }

    /// <summary>
    /// Writes this label into its sector of <paramref name="device"/>; with <paramref name="clearOtherSectors"/>
    /// (pvcreate) the rest of the first four sectors is zeroed too, so no stale signature survives.
    /// </summary>
    public void Write(BlockDevice device, bool clearOtherSectors)
    {
        Span<byte> buffer = stackalloc byte[ScanSectors * SectorSize];
        buffer.Clear();
        Span<byte> s = buffer.Slice(Sector * SectorSize, SectorSize);
        LabelId.CopyTo(s);
        BinaryPrimitives.WriteUInt64LittleEndian(s[8..], (ulong)Sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], PvHeaderOffset);
        LabelType.CopyTo(s[24..]);
        Span<byte> pv = s[PvHeaderOffset..];
        Encoding.ASCII.GetBytes(Uuid, pv[..32]);
        BinaryPrimitives.WriteUInt64LittleEndian(pv[32..], DeviceSize);
        int pos = 40;
        foreach (LvmDiskLocation d in DataAreas)
        {
            WriteLocation(pv, ref pos, d);
        }

        WriteLocation(pv, ref pos, default);
        foreach (LvmDiskLocation m in MetadataAreas)
        {
            WriteLocation(pv, ref pos, m);
        }

        WriteLocation(pv, ref pos, default);
        BinaryPrimitives.WriteUInt32LittleEndian(pv[pos..], HeaderExtensionVersion == 0 ? CurrentExtensionVersion : HeaderExtensionVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(pv[(pos + 4)..], ExtensionFlags);
        pos += 8;
        WriteLocation(pv, ref pos, default); // no bootloader area
        BinaryPrimitives.WriteUInt32LittleEndian(s[16..], LvmCrc.Compute(s[20..]));
        if (clearOtherSectors)
        {
            device.Write(0, buffer);
        }
        else
        {
            device.Write((long)Sector * SectorSize, s);
        }
    }

    /// <summary>A copy with another UUID and extension flags.</summary>
    public LvmLabel With(string uuid, uint extensionFlags) =>
        new(Sector, uuid, DeviceSize, DataAreas, MetadataAreas, HeaderExtensionVersion == 0 ? CurrentExtensionVersion : HeaderExtensionVersion, extensionFlags);

    private static void WriteLocation(Span<byte> pv, ref int pos, LvmDiskLocation d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(pv[pos..], d.Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(pv[(pos + 8)..], d.Size);
        pos += 16;
    }
}
