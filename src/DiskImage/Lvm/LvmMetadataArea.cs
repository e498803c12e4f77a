using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// One metadata area of a PV: the 512-byte mda_header and the circular buffer of metadata text after it.
/// </summary>
/// <remarks>lib/format_text/layout.h (<c>struct mda_header</c>, <c>struct raw_locn</c>); format-text.c (<c>_vg_write_raw</c>, <c>_next_rlocn_offset</c>).</remarks>
internal sealed class LvmMetadataArea
{
    /// <summary>The mda_header size (<c>MDA_HEADER_SIZE</c>): the text area starts this far into the area.</summary>
    public const int HeaderSize = 512;

    /// <summary>The largest metadata text accepted (LVM's default area holds 509 KiB; hostile sizes must not allocate).</summary>
    public const int MaxTextSize = 16 << 20;

    /// <summary>The largest metadata area accepted.</summary>
    private const long MaxAreaSize = 1L << 40;

    /// <summary><c>RAW_LOCN_IGNORED</c>: the area is kept but not used (<c>pvchange --metadataignore</c>).</summary>
    private const uint RawLocationIgnored = 1;

    private const uint Version = 1;

    private static ReadOnlySpan<byte> Magic => " LVM2 x[5A%r0N*>"u8;

    private LvmMetadataArea(BlockDevice device, long start, long size, ulong textOffset, ulong textSize, uint textChecksum, uint flags)
    {
        Device = device;
        Start = start;
        Size = size;
        TextOffset = textOffset;
        TextSize = textSize;
        TextChecksum = textChecksum;
        Flags = flags;
    }

    /// <summary>The PV the area is on.</summary>
    public BlockDevice Device { get; }

    /// <summary>The byte offset of the area on the PV (<c>start</c>).</summary>
    public long Start { get; }

    /// <summary>The area size in bytes, header included (<c>size</c>).</summary>
    public long Size { get; }

    /// <summary>raw_locn[0].offset: the committed text, relative to <see cref="Start"/> (0 when the area holds none).</summary>
    public ulong TextOffset { get; private set; }

    /// <summary>raw_locn[0].size: the text length including its trailing NUL.</summary>
    public ulong TextSize { get; private set; }

    /// <summary>raw_locn[0].checksum.</summary>
    public uint TextChecksum { get; private set; }

    /// <summary>raw_locn[0].flags.</summary>
    public uint Flags { get; }

    /// <summary>Whether the area is marked ignored.</summary>
    public bool IsIgnored => (Flags & RawLocationIgnored) != 0;

    /// <summary>Reads and checks the mda_header at <paramref name="location"/>.</summary>
    /// <exception cref="InvalidDataException">The header's checksum, magic, version, start or raw_locn is wrong.</exception>
    public static LvmMetadataArea Read(BlockDevice device, LvmDiskLocation location)
    {
        const string Structure = "LVM2 mda_header";
        long at = (long)location.Offset;
        if (location.Size > MaxAreaSize || location.Size < 2 * HeaderSize)
        {
            FormatError.Throw(Structure, at, $"the metadata area size {location.Size} is out of range");
        }

        Span<byte> h = stackalloc byte[HeaderSize];
        device.ReadExactly(at, h);
        uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(h);
        uint actual = LvmCrc.Compute(h[4..]);
        if (checksum != actual)
        {
            FormatError.Throw(Structure, at, $"checksum_xl 0x{checksum:x8} does not match the header (0x{actual:x8})");
        }

        if (!h.Slice(4, 16).SequenceEqual(Magic))
        {
            FormatError.Throw(Structure, at, "the magic is not \" LVM2 x[5A%r0N*>\"");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        if (version != Version)
        {
            FormatError.Throw(Structure, at, $"version {version} is not 1");
        }

        ulong start = BinaryPrimitives.ReadUInt64LittleEndian(h[24..]);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(h[32..]);
        if (start != location.Offset || size != location.Size)
        {
            FormatError.Throw(Structure, at, $"start {start} and size {size} disagree with the pv_header ({location.Offset}, {location.Size})");
        }

        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(h[40..]);
        ulong textSize = BinaryPrimitives.ReadUInt64LittleEndian(h[48..]);
        uint textChecksum = BinaryPrimitives.ReadUInt32LittleEndian(h[56..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[60..]);
        if (textSize != 0 && (offset < HeaderSize || offset >= size || textSize > size - HeaderSize || textSize > MaxTextSize))
        {
            FormatError.Throw(Structure, at, $"raw_locn [{offset}, +{textSize}) does not lie within the metadata area (size {size})");
        }

        return new LvmMetadataArea(device, (long)start, (long)size, offset, textSize, textChecksum, flags);
    }

    /// <summary>Writes an empty mda_header (no text yet), as pvcreate does.</summary>
    public static LvmMetadataArea Initialize(BlockDevice device, LvmDiskLocation location)
    {
        var area = new LvmMetadataArea(device, (long)location.Offset, (long)location.Size, 0, 0, 0, 0);
        area.WriteHeader();
        return area;
    }

    /// <summary>Reads the committed text (with its trailing NUL) and checks its checksum; null when the area holds no text.</summary>
    /// <exception cref="InvalidDataException">The text's checksum is wrong.</exception>
    public byte[]? ReadText()
    {
        if (TextSize == 0)
        {
            return null;
        }

        byte[] text = new byte[(int)TextSize];
        long first = Math.Min((long)TextSize, Size - (long)TextOffset);
        Device.ReadExactly(Start + (long)TextOffset, text.AsSpan(0, (int)first));
        if (first < text.Length)
        {
            // The copy wraps: the rest is at the start of the text area.
            Device.ReadExactly(Start + HeaderSize, text.AsSpan((int)first));
        }

        uint actual = LvmCrc.Compute(text);
        if (actual != TextChecksum)
        {
            FormatError.Throw("LVM2 metadata text", Start + (long)TextOffset, $"checksum 0x{actual:x8} does not match raw_locn's 0x{TextChecksum:x8}");
        }

        return text;
    }

    /// <summary>
    /// Commits <paramref name="text"/> (ending in NUL): writes it after the current copy in the circular
    /// buffer, then rewrites the header to point at it (the header write is the commit point).
    /// </summary>
    /// <exception cref="InvalidOperationException">The text does not fit beside the current copy.</exception>
    public void WriteText(ReadOnlySpan<byte> text)
    {
        long area = Size - HeaderSize;
        if (text.Length > (area / 2) - HeaderSize)
        {
            throw new InvalidOperationException($"The metadata ({text.Length} bytes) does not fit in the metadata area of {Size} bytes at {Start}: at most {(area / 2) - HeaderSize} bytes are allowed.");
        }

        long offset = NextOffset();
        long first = Math.Min(text.Length, Size - offset);
        Device.Write(Start + offset, text[..(int)first]);
        if (first < text.Length)
        {
            Device.Write(Start + HeaderSize, text[(int)first..]);
        }

        TextOffset = (ulong)offset;
        TextSize = (ulong)text.Length;
        TextChecksum = LvmCrc.Compute(text);
        WriteHeader();
    }

    /// <summary><c>_next_rlocn_offset</c>: after the current copy, rounded up to 512; back to 512 when less than a sector is left.</summary>
    private long NextOffset()
    {
        if (TextSize == 0)
        {
            return HeaderSize;
        }

        long end = (long)TextOffset + (long)TextSize;
        if (end > Size)
        {
            end = end - Size + HeaderSize; // the current copy wraps
        }

        long next = (end + HeaderSize - 1) / HeaderSize * HeaderSize;
        return Size - next < HeaderSize ? HeaderSize : next;
    }

    private void WriteHeader()
    {
        Span<byte> h = stackalloc byte[HeaderSize];
        h.Clear();
        Magic.CopyTo(h[4..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], (ulong)Start);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)Size);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], TextOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], TextSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[56..], TextChecksum);
        BinaryPrimitives.WriteUInt32LittleEndian(h[60..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h, LvmCrc.Compute(h[4..]));
        Device.Write(Start, h);
    }
}
