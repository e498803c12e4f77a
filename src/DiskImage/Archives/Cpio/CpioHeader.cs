using System.Buffers.Binary;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// The 110-byte ASCII header of newc/crc entries (kernel <c>buffer-format.rst</c>): a 6-byte magic
/// followed by 13 fields of 8 hex digits.
/// </summary>
internal static class CpioHeader
{
    public const int Size = 110;
    public const int MagicLength = 6;
    public const int FieldLength = 8;

    // Field indexes, in on-disk order (c_ino .. c_check).
    public const int Ino = 0, Mode = 1, Uid = 2, Gid = 3, NLink = 4, MTime = 5, FileSize = 6,
        DevMajor = 7, DevMinor = 8, RDevMajor = 9, RDevMinor = 10, NameSize = 11, Check = 12;

    public const int FieldCount = 13;

    /// <summary>Returns the format for a 6-byte magic, or 0 when it is not newc/crc.</summary>
    public static CpioFormat DetectMagic(ReadOnlySpan<byte> magic)
    {
        if (magic.Length < MagicLength || !magic[..5].SequenceEqual("07070"u8))
        {
            return 0;
        }

        return magic[5] switch
        {
            (byte)'1' => CpioFormat.Newc,
            (byte)'2' => CpioFormat.Crc,
            _ => 0,
        };
    }

    /// <summary>Parses the 13 numeric fields; returns false on a non-hex digit.</summary>
    public static bool TryParseFields(ReadOnlySpan<byte> header, Span<uint> fields)
    {
        for (int f = 0; f < FieldCount; f++)
        {
            ReadOnlySpan<byte> digits = header.Slice(MagicLength + (f * FieldLength), FieldLength);
            uint value = 0;
            for (int i = 0; i < FieldLength; i++)
            {
                int d = HexValue(digits[i]);
                if (d < 0)
                {
                    return false;
                }

                value = (value << 4) | (uint)d;
            }

            fields[f] = value;
        }

        return true;
    }

    /// <summary>Writes a header with upper-case hex digits, as GNU cpio and gen_init_cpio do.</summary>
    public static void Write(Span<byte> header, CpioFormat format, ReadOnlySpan<uint> fields)
    {
        "07070"u8.CopyTo(header);
        header[5] = format == CpioFormat.Crc ? (byte)'2' : (byte)'1';
        for (int f = 0; f < FieldCount; f++)
        {
            Span<byte> digits = header.Slice(MagicLength + (f * FieldLength), FieldLength);
            uint value = fields[f];
            for (int i = FieldLength - 1; i >= 0; i--)
            {
                digits[i] = (byte)"0123456789ABCDEF"[(int)(value & 0xF)];
                value >>= 4;
            }
        }
    }

    /// <summary>Bytes of padding after <paramref name="position"/> to the next 4-byte boundary.</summary>
    public static int PadTo4(long position) => (int)((4 - (position & 3)) & 3);

    /// <summary>Sum of bytes (the crc format's "checksum"), accumulated modulo 2^32.</summary>
    public static uint Sum(uint sum, ReadOnlySpan<byte> data)
    {
        int i = 0;
        uint a = 0, b = 0, c = 0, d = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
            a += (uint)(v & 0xFF) + (uint)((v >> 32) & 0xFF);
            b += (uint)((v >> 8) & 0xFF) + (uint)((v >> 40) & 0xFF);
            c += (uint)((v >> 16) & 0xFF) + (uint)((v >> 48) & 0xFF);
            d += (uint)((v >> 24) & 0xFF) + (uint)(v >> 56);
        }

        for (; i < data.Length; i++)
        {
            a += data[i];
        }

        return sum + a + b + c + d;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => -1,
    };
}
