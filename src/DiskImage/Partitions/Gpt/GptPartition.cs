using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Partitions.Gpt;

/// <summary>A GPT partition entry (UEFI 2.10 §5.3.3, table 5-6).</summary>
public sealed class GptPartition : Partition
{
    /// <summary>The number of UTF-16 code units the name field holds.</summary>
    public const int MaxNameLength = 36;

    private const int TypeGuidOffset = 0;
    private const int UniqueGuidOffset = 16;
    private const int StartingLbaOffset = 32;
    private const int EndingLbaOffset = 40;
    private const int AttributesOffset = 48;
    private const int NameOffset = 56;

    internal GptPartition(int number, long firstSector, long sectorCount, int sectorSize, Guid typeGuid, Guid uniqueGuid, GptPartitionAttributes attributes, string name)
        : base(number, firstSector, sectorCount, sectorSize)
    {
        TypeGuid = typeGuid;
        UniqueGuid = uniqueGuid;
        Attributes = attributes;
        Name = name;
    }

    /// <summary>The partition type GUID (PartitionTypeGUID).</summary>
    public Guid TypeGuid { get; }

    /// <summary>The unique partition GUID (UniquePartitionGUID): what <c>PARTUUID=</c> names.</summary>
    public Guid UniqueGuid { get; }

    /// <summary>The attribute bits.</summary>
    public GptPartitionAttributes Attributes { get; }

    /// <summary>The partition name (PartitionName, UTF-16, up to the first NUL): what <c>PARTLABEL=</c> names.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public override string TypeName => TypeGuid.ToString("D").ToUpperInvariant();

    /// <inheritdoc />
    public override string? TypeDescription => PartitionTypes.Describe(TypeGuid);

    /// <summary>The attributes as <c>sfdisk --json</c> prints them (<c>RequiredPartition LegacyBIOSBootable GUID:60,63</c>), or null when none of bits 0–2 and 48–63 is set.</summary>
    public string? AttributeText
    {
        get
        {
            ulong bits = (ulong)Attributes;
            var text = new StringBuilder();
            if ((bits & 1) != 0)
            {
                text.Append("RequiredPartition");
            }

            if ((bits & 2) != 0)
            {
                text.Append(text.Length > 0 ? " " : string.Empty).Append("NoBlockIOProtocol");
            }

            if ((bits & 4) != 0)
            {
                text.Append(text.Length > 0 ? " " : string.Empty).Append("LegacyBIOSBootable");
            }

            bool first = true;
            for (int bit = 48; bit < 64; bit++)
            {
                if ((bits & (1UL << bit)) != 0)
                {
                    text.Append(first ? (text.Length > 0 ? " GUID:" : "GUID:") : ",").Append(bit);
                    first = false;
                }
            }

            return text.Length == 0 ? null : text.ToString();
        }
    }

    /// <summary>Whether the entry is in use (its type GUID is not all zeros).</summary>
    internal static bool IsUsed(ReadOnlySpan<byte> entry) => entry.Slice(TypeGuidOffset, 16).ContainsAnyExcept((byte)0);

    /// <summary>Parses an in-use entry; the caller validates the extent.</summary>
    internal static GptPartition Parse(ReadOnlySpan<byte> entry, int number, int sectorSize, out long endingLba)
    {
        long first = (long)BinaryPrimitives.ReadUInt64LittleEndian(entry[StartingLbaOffset..]);
        ulong last = BinaryPrimitives.ReadUInt64LittleEndian(entry[EndingLbaOffset..]);
        endingLba = last > long.MaxValue ? -1 : (long)last;
        long count = first >= 0 && endingLba >= first ? endingLba - first + 1 : 0;
        ReadOnlySpan<byte> nameBytes = entry.Slice(NameOffset, MaxNameLength * 2);
        int length = 0;
        while (length < MaxNameLength && BinaryPrimitives.ReadUInt16LittleEndian(nameBytes[(length * 2)..]) != 0)
        {
            length++;
        }

        return new GptPartition(
            number,
            first,
            count,
            sectorSize,
            new Guid(entry.Slice(TypeGuidOffset, 16)),
            new Guid(entry.Slice(UniqueGuidOffset, 16)),
            (GptPartitionAttributes)BinaryPrimitives.ReadUInt64LittleEndian(entry[AttributesOffset..]),
            Encoding.Unicode.GetString(nameBytes[..(length * 2)]));
    }

    /// <summary>Writes the 128 defined bytes of the entry (bytes past 128 in larger entries are left as they are).</summary>
    internal void WriteTo(Span<byte> entry)
    {
        entry[..128].Clear();
        TypeGuid.TryWriteBytes(entry.Slice(TypeGuidOffset, 16));
        UniqueGuid.TryWriteBytes(entry.Slice(UniqueGuidOffset, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(entry[StartingLbaOffset..], (ulong)FirstSector);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[EndingLbaOffset..], (ulong)LastSector);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[AttributesOffset..], (ulong)Attributes);
        Encoding.Unicode.GetBytes(Name, entry.Slice(NameOffset, MaxNameLength * 2));
    }

    /// <summary>A copy with another extent.</summary>
    internal GptPartition WithExtent(long firstSector, long sectorCount) =>
        new(Number, firstSector, sectorCount, SectorSize, TypeGuid, UniqueGuid, Attributes, Name);
}
