namespace DiskImage.Security.Crypt;

/// <summary>
/// The base-64 codings of yescrypt's crypt strings: the "./0-9A-Za-z" alphabet, bytes packed
/// little-endian into 24-bit groups written least-significant six bits first, and the variable-length
/// coding of the parameter integers after <c>$y$</c>.
/// </summary>
/// <remarks>
/// Facts from the yescrypt reference (<c>yescrypt-common.c</c>: <c>encode64</c>, <c>decode64</c>,
/// <c>encode64_uint32</c>, <c>decode64_uint32</c>, <c>decode64_uint32_fixed</c>), which libxcrypt uses unchanged.
/// </remarks>
internal static class YescryptBase64
{
    /// <summary>The 64 characters in value order.</summary>
    public const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>The value of one character, or 64 when it is not in the alphabet.</summary>
    public static int Value(char c) => c switch
    {
        >= '.' and <= '9' => c - '.',
        >= 'A' and <= 'Z' => c - 'A' + 12,
        >= 'a' and <= 'z' => c - 'a' + 38,
        _ => 64,
    };

    /// <summary>Number of characters <see cref="Encode"/> writes for <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount) => ((byteCount * 8) + 5) / 6;

    /// <summary>Appends the coding of <paramref name="bytes"/>: each 3-byte group (the last may be shorter) as a little-endian integer, 6 bits per character from the low end.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, System.Text.StringBuilder output)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            uint value = 0;
            int bits = 0;
            do
            {
                value |= (uint)bytes[i++] << bits;
                bits += 8;
            }
            while (bits < 24 && i < bytes.Length);

            for (int done = 0; done < bits; done += 6)
            {
                output.Append(Alphabet[(int)(value & 0x3f)]);
                value >>= 6;
            }
        }
    }

    /// <summary>
    /// Decodes a salt string as yescrypt does: groups of up to 4 characters give up to 3 bytes; a group
    /// of 1 character, bits left over that are not zero, or more than <paramref name="destination"/>
    /// holds make it invalid. Returns the byte count, or -1 when the text is not a valid coding.
    /// </summary>
    public static int Decode(ReadOnlySpan<char> text, Span<byte> destination)
    {
        int written = 0;
        int pos = 0;
        while (pos < text.Length)
        {
            uint value = 0;
            int bits = 0;
            while (pos < text.Length && bits < 24)
            {
                int c = Value(text[pos]);
                if (c > 63)
                {
                    return -1;
                }

                value |= (uint)c << bits;
                bits += 6;
                pos++;
            }

            if (bits < 12)
            {
                return -1; // a lone character holds no whole byte
            }

            while (bits >= 8)
            {
                if (written == destination.Length)
                {
                    return -1;
                }

                destination[written++] = (byte)value;
                value >>= 8;
                bits -= 8;
            }

            if (value != 0)
            {
                return -1; // the 2 or 4 bits past the last byte must be zero
            }
        }

        return written;
    }

    /// <summary>Appends <paramref name="value"/> in the variable-length parameter coding with offset <paramref name="min"/>.</summary>
    public static void EncodeUInt32(uint value, uint min, System.Text.StringBuilder output)
    {
        if (value < min)
        {
            throw new ArgumentOutOfRangeException(nameof(value), $"The value must be at least {min}.");
        }

        uint src = value - min;
        uint start = 0, end = 47, chars = 1;
        int bits = 0;
        while (true)
        {
            ulong count = (ulong)(end + 1 - start) << bits;
            if (src < count)
            {
                break;
            }

            if (start >= 63)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "The value is too large for the yescrypt parameter coding.");
            }

            start = end + 1;
            end = start + ((62 - end) / 2);
            src -= (uint)count;
            chars++;
            bits += 6;
        }

        output.Append(Alphabet[(int)(start + (src >> bits))]);
        while (--chars > 0)
        {
            bits -= 6;
            output.Append(Alphabet[(int)((src >> bits) & 0x3f)]);
        }
    }

    /// <summary>
    /// Decodes one variable-length parameter at <paramref name="pos"/> (advanced past it) with offset
    /// <paramref name="min"/>. Returns false when a character is outside the alphabet or the value overflows.
    /// </summary>
    public static bool TryDecodeUInt32(ReadOnlySpan<char> text, ref int pos, uint min, out uint value)
    {
        value = 0;
        if (pos >= text.Length)
        {
            return false;
        }

        uint c = (uint)Value(text[pos++]);
        if (c > 63)
        {
            return false;
        }

        ulong result = min;
        uint start = 0, end = 47, chars = 1;
        int bits = 0;
        while (c > end)
        {
            result += (ulong)(end + 1 - start) << bits;
            start = end + 1;
            end = start + ((62 - end) / 2);
            chars++;
            bits += 6;
        }

        result += (ulong)(c - start) << bits;
        while (--chars > 0)
        {
            if (pos >= text.Length)
            {
                return false;
            }

            c = (uint)Value(text[pos++]);
            if (c > 63)
            {
                return false;
            }

            bits -= 6;
            result += (ulong)c << bits;
        }

        if (result > uint.MaxValue)
        {
            return false;
        }

        value = (uint)result;
        return true;
    }

    /// <summary>Decodes a fixed-width little-endian integer of <paramref name="bitCount"/> bits (the <c>$7$</c> r and p fields).</summary>
    public static bool TryDecodeFixed(ReadOnlySpan<char> text, ref int pos, int bitCount, out uint value)
    {
        value = 0;
        for (int bits = 0; bits < bitCount; bits += 6)
        {
            if (pos >= text.Length)
            {
                value = 0;
                return false;
            }

            int c = Value(text[pos++]);
            if (c > 63)
            {
                value = 0;
                return false;
            }

            value |= (uint)c << bits;
        }

        return true;
    }
}
