using System.Buffers.Binary;
using System.Text;

namespace DiskImage.Formats.Qcow2;

/// <summary>
/// One entry of the bitmap directory (qcow2 spec, "Bitmap directory") and, while the image is open
/// for writing, the bitmap's bits in memory.
/// </summary>
internal sealed class Qcow2BitmapDirectoryEntry
{
    /// <summary>Bytes before the extra data and name.</summary>
    public const int FixedSize = 24;

    /// <summary>Longest name (<c>BME_MAX_NAME_SIZE</c>).</summary>
    public const int MaxNameSize = 1023;

    /// <summary>Largest bitmap table in entries (<c>BME_MAX_TABLE_SIZE</c>).</summary>
    public const uint MaxTableSize = 0x8000000;

    /// <summary>Largest bitmap data in bytes (<c>BME_MAX_PHYS_SIZE</c>).</summary>
    public const long MaxPhysicalSize = 0x20000000;

    /// <summary>Smallest and largest granularity_bits (<c>BME_MIN/MAX_GRANULARITY_BITS</c>).</summary>
    public const int MinGranularityBits = 9;

    /// <inheritdoc cref="MinGranularityBits"/>
    public const int MaxGranularityBits = 31;

    /// <summary>Largest bitmap directory (<c>QCOW2_MAX_BITMAP_DIRECTORY_SIZE</c>).</summary>
    public const long MaxDirectorySize = 1024L * 65535;

    /// <summary>Most bitmaps (<c>QCOW2_MAX_BITMAPS</c>).</summary>
    public const uint MaxBitmaps = 65535;

    /// <summary>Mask of the host offset in a bitmap table entry (bits 9–55).</summary>
    public const ulong TableEntryOffsetMask = 0x00fffffffffffe00;

    /// <summary>Reserved bits of a bitmap table entry (1–8 and 56–63); bit 0 is "all ones" when the offset is 0.</summary>
    public const ulong TableEntryReservedMask = 0xff000000000001fe;

    /// <summary><c>bitmap_table_offset</c>.</summary>
    public ulong TableOffset { get; set; }

    /// <summary><c>bitmap_table_size</c> (entries).</summary>
    public uint TableSize { get; set; }

    /// <summary><c>flags</c>.</summary>
    public Qcow2BitmapFlags Flags { get; set; }

    /// <summary><c>type</c> (1: dirty tracking bitmap).</summary>
    public byte Type { get; init; }

    /// <summary><c>granularity_bits</c>.</summary>
    public byte GranularityBits { get; init; }

    /// <summary>The name bytes (UTF-8).</summary>
    public required byte[] Name { get; init; }

    /// <summary>The extra data, kept as stored.</summary>
    public required byte[] ExtraData { get; init; }

    /// <summary>The bits while the image is open for writing (bit i is byte i/8, bit i%8), or null when not loaded.</summary>
    public byte[]? Bits { get; set; }

    /// <summary>Bits in <see cref="Bits"/>.</summary>
    public long BitCount { get; set; }

    /// <summary>The bitmap was in use when the image was opened for writing: it is inconsistent and kept as it is.</summary>
    public bool Inconsistent { get; set; }

    /// <summary>Bytes of guest disk per bit.</summary>
    public long Granularity => 1L << GranularityBits;

    /// <summary>The name as text.</summary>
    public string NameText => Encoding.UTF8.GetString(Name);

    /// <summary>Bytes of this entry in the directory, padded to 8.</summary>
    public int DiskSize => (FixedSize + ExtraData.Length + Name.Length + 7) & ~7;

    /// <summary>Bits a bitmap of <paramref name="granularityBits"/> needs for a disk of <paramref name="virtualSize"/> bytes.</summary>
    public static long BitsFor(long virtualSize, int granularityBits) =>
        (long)(((ulong)virtualSize + (1UL << granularityBits) - 1) >> granularityBits);

    /// <summary>Bitmap table entries a bitmap of <paramref name="bitCount"/> bits needs with <paramref name="clusterSize"/> clusters.</summary>
    public static long TableSizeFor(long bitCount, int clusterSize)
    {
        long bytes = (bitCount + 7) / 8;
        return (bytes + clusterSize - 1) / clusterSize;
    }

    /// <summary>Parses <paramref name="count"/> entries that must fill <paramref name="directory"/> exactly.</summary>
    /// <exception cref="InvalidDataException">The directory is malformed.</exception>
    public static List<Qcow2BitmapDirectoryEntry> ParseDirectory(ReadOnlySpan<byte> directory, uint count, long directoryOffset)
    {
        const string S = "qcow2 bitmap directory";
        var list = new List<Qcow2BitmapDirectoryEntry>((int)Math.Min(count, 1024));
        var names = new HashSet<string>(StringComparer.Ordinal);
        int pos = 0;
        for (uint i = 0; i < count; i++)
        {
            if (directory.Length - pos < FixedSize)
            {
                FormatError.Throw(S, directoryOffset + pos, $"entry {i} runs past the end of the directory.");
            }

            ReadOnlySpan<byte> e = directory[pos..];
            uint extraSize = BinaryPrimitives.ReadUInt32BigEndian(e[20..]);
            int nameSize = BinaryPrimitives.ReadUInt16BigEndian(e[18..]);
            long size = (FixedSize + (long)extraSize + nameSize + 7) & ~7L;
            if (size > directory.Length - pos)
            {
                FormatError.Throw(S, directoryOffset + pos, $"entry {i} runs past the end of the directory.");
            }

            if (nameSize == 0 || nameSize > MaxNameSize)
            {
                FormatError.Throw(S, directoryOffset + pos, $"entry {i} has an invalid name size {nameSize}.");
            }

            var entry = new Qcow2BitmapDirectoryEntry
            {
                TableOffset = BinaryPrimitives.ReadUInt64BigEndian(e),
                TableSize = BinaryPrimitives.ReadUInt32BigEndian(e[8..]),
                Flags = (Qcow2BitmapFlags)BinaryPrimitives.ReadUInt32BigEndian(e[12..]),
                Type = e[16],
                GranularityBits = e[17],
                ExtraData = e.Slice(FixedSize, (int)extraSize).ToArray(),
                Name = e.Slice(FixedSize + (int)extraSize, nameSize).ToArray(),
            };
            if (!names.Add(entry.NameText))
            {
                FormatError.Throw(S, directoryOffset + pos, $"bitmap name '{entry.NameText}' appears twice.");
            }

            list.Add(entry);
            pos += (int)size;
        }

        if (pos != directory.Length)
        {
            FormatError.Throw(S, directoryOffset, $"the directory holds {pos} bytes of entries but its size is {directory.Length}.");
        }

        return list;
    }

    /// <summary>
    /// Checks what QEMU checks before it uses a bitmap (<c>check_dir_entry</c>): table placement and
    /// size for <paramref name="virtualSize"/>, type, granularity, flags. Returns the problem, or null.
    /// </summary>
    public string? Validate(long virtualSize, int clusterSize, long fileLength)
    {
        if (Type != 1)
        {
            return $"bitmap '{NameText}' has unknown type {Type}";
        }

        if (GranularityBits is < MinGranularityBits or > MaxGranularityBits)
        {
            return $"bitmap '{NameText}' has invalid granularity bits {GranularityBits}";
        }

        if ((Flags & ~(Qcow2BitmapFlags.InUse | Qcow2BitmapFlags.Auto | Qcow2BitmapFlags.ExtraDataCompatible)) != 0)
        {
            return $"bitmap '{NameText}' has reserved flags 0x{(uint)Flags:x}";
        }

        if (TableSize == 0 || TableSize > MaxTableSize || (long)TableSize * clusterSize > MaxPhysicalSize)
        {
            return $"bitmap '{NameText}' has an invalid table size {TableSize}";
        }

        if (TableOffset == 0 || (TableOffset & (ulong)(clusterSize - 1)) != 0 || TableOffset + ((ulong)TableSize * 8) > (ulong)fileLength)
        {
            return $"bitmap '{NameText}' has an invalid table offset {TableOffset}";
        }

        if (TableSizeFor(BitsFor(virtualSize, GranularityBits), clusterSize) > TableSize)
        {
            return $"bitmap '{NameText}' has a table of {TableSize} entries, too small for the disk";
        }

        return null;
    }

    /// <summary>Writes the entry at the start of <paramref name="destination"/> (<see cref="DiskSize"/> bytes, padding zeroed).</summary>
    public void WriteTo(Span<byte> destination, ulong tableOffset, uint tableSize, Qcow2BitmapFlags flags)
    {
        Span<byte> d = destination[..DiskSize];
        d.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(d, tableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], tableSize);
        BinaryPrimitives.WriteUInt32BigEndian(d[12..], (uint)flags);
        d[16] = Type;
        d[17] = GranularityBits;
        BinaryPrimitives.WriteUInt16BigEndian(d[18..], (ushort)Name.Length);
        BinaryPrimitives.WriteUInt32BigEndian(d[20..], (uint)ExtraData.Length);
        ExtraData.CopyTo(d[FixedSize..]);
        Name.CopyTo(d[(FixedSize + ExtraData.Length)..]);
    }

    /// <summary>Sets the bits covering guest bytes [<paramref name="offset"/>, +<paramref name="length"/>).</summary>
    public void MarkDirty(long offset, long length)
    {
        byte[]? bits = Bits;
        if (bits is null || length <= 0 || BitCount == 0)
        {
            return;
        }

        long first = offset >> GranularityBits;
        long last = Math.Min((offset + length - 1) >> GranularityBits, BitCount - 1);
        if (first > last)
        {
            return;
        }

        long firstByte = first >> 3;
        long lastByte = last >> 3;
        if (firstByte == lastByte)
        {
            bits[firstByte] |= (byte)((0xff << (int)(first & 7)) & (0xff >> (7 - (int)(last & 7))));
            return;
        }

        bits[firstByte] |= (byte)(0xff << (int)(first & 7));
        bits.AsSpan((int)(firstByte + 1), (int)(lastByte - firstByte - 1)).Fill(0xff);
        bits[lastByte] |= (byte)(0xff >> (7 - (int)(last & 7)));
    }

    /// <summary>
    /// Sets every bit whose guest range holds a set bit of <paramref name="source"/> (<paramref name="sourceCount"/>
    /// bits of 2^<paramref name="sourceGranularityBits"/> bytes each): the union, also across granularities.
    /// </summary>
    public void MergeFrom(byte[] source, long sourceCount, int sourceGranularityBits)
    {
        byte[]? bits = Bits;
        if (bits is null)
        {
            return;
        }

        if (sourceGranularityBits == GranularityBits && sourceCount == BitCount)
        {
            for (int i = 0; i < bits.Length; i++)
            {
                bits[i] |= source[i];
            }

            return;
        }

        long granularity = 1L << sourceGranularityBits;
        int pos = 0;
        while (pos < source.Length)
        {
            int next = source.AsSpan(pos).IndexOfAnyExcept((byte)0);
            if (next < 0)
            {
                break;
            }

            pos += next;
            byte b = source[pos];
            for (int bit = 0; bit < 8; bit++)
            {
                long index = ((long)pos * 8) + bit;
                if ((b & (1 << bit)) != 0 && index < sourceCount)
                {
                    MarkDirty(index * granularity, granularity);
                }
            }

            pos++;
        }
    }

    /// <summary>Resizes the loaded bits to a disk of <paramref name="virtualSize"/> bytes; bits past the old end start clear.</summary>
    public void Resize(long virtualSize)
    {
        if (Bits is null)
        {
            return;
        }

        long count = BitsFor(virtualSize, GranularityBits);
        byte[] bits = Bits;
        if ((BitCount & 7) != 0)
        {
            // Bits past the old end must not reappear when the disk grows.
            bits[^1] &= (byte)(0xff >> (8 - (int)(BitCount & 7)));
        }

        Array.Resize(ref bits, (int)((count + 7) / 8));
        if ((count & 7) != 0)
        {
            bits[^1] &= (byte)(0xff >> (8 - (int)(count & 7)));
        }

        Bits = bits;
        BitCount = count;
    }
}
