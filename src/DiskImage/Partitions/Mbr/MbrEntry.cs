using System.Buffers.Binary;

namespace DiskImage.Partitions.Mbr;

/// <summary>A 16-byte MBR/EBR partition entry: status, CHS first, type, CHS last, LBA start, sector count.</summary>
internal readonly record struct MbrEntry(byte Status, byte Type, uint Start, uint Count)
{
    /// <summary>The offset of the first entry in the sector.</summary>
    public const int TableOffset = 0x1BE;

    /// <summary>Whether the entry describes nothing (type 0 or no sectors).</summary>
    public bool IsEmpty => Type == 0 || Count == 0;

    public static MbrEntry Read(ReadOnlySpan<byte> sector, int index)
    {
        ReadOnlySpan<byte> e = sector.Slice(TableOffset + (16 * index), 16);
        return new MbrEntry(e[0], e[4], BinaryPrimitives.ReadUInt32LittleEndian(e[8..]), BinaryPrimitives.ReadUInt32LittleEndian(e[12..]));
    }

    /// <summary>Writes the entry into slot <paramref name="index"/>, with CHS from the LBA fields for a 255-head, 63-sector geometry (as sfdisk).</summary>
    public void WriteTo(Span<byte> sector, int index, long chsBase)
    {
        Span<byte> e = sector.Slice(TableOffset + (16 * index), 16);
        e.Clear();
        if (Type == 0)
        {
            return;
        }

        e[0] = Status;
        WriteChs(e[1..4], chsBase + Start);
        e[4] = Type;
        WriteChs(e[5..8], chsBase + Start + Count - 1);
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], Start);
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], Count);
    }

    private static void WriteChs(Span<byte> chs, long lba)
    {
        const int Heads = 255;
        const int SectorsPerTrack = 63;
        long cylinder = lba / (Heads * SectorsPerTrack);
        if (cylinder > 1023)
        {
            chs[0] = 0xFE;
            chs[1] = 0xFF;
            chs[2] = 0xFF;
            return;
        }

        int head = (int)(lba / SectorsPerTrack % Heads);
        int sector = (int)(lba % SectorsPerTrack) + 1;
        chs[0] = (byte)head;
        chs[1] = (byte)(sector | (int)((cylinder >> 2) & 0xC0));
        chs[2] = (byte)(cylinder & 0xFF);
    }
}
