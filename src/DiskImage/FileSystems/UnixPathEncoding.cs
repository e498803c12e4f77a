using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace DiskImage.FileSystems;

/// <summary>
/// The lossless mapping between the bytes of a Unix name or path (as stored in a directory entry, a symbolic link,
/// a cpio header or returned by <c>getdents64</c>) and a .NET string: the surrogate-escape scheme of Python's
/// <c>os.fsdecode</c>/<c>os.fsencode</c>.
/// </summary>
/// <remarks>
/// <para>Decoding: every valid UTF-8 sequence decodes to its character; every byte that is not part of a valid
/// UTF-8 sequence (0x80–0xFF: stray continuation bytes, truncated or overlong sequences, encoded surrogates,
/// code points above U+10FFFF) becomes the lone surrogate U+DC80 + (byte − 0x80). Encoding reverses it: each lone
/// surrogate U+DC80–U+DCFF becomes the byte it stands for, everything else is UTF-8.</para>
/// <para>Valid UTF-8 never encodes a surrogate, so decoding is injective: two different byte strings never give
/// the same string, and <c>GetBytes(GetString(b))</c> is <c>b</c> for every byte string. The strings
/// <see cref="GetString"/> produces are exactly the ones <see cref="GetBytes(ReadOnlySpan{char})"/> accepts: a lone
/// surrogate outside U+DC80–U+DCFF, or escapes whose bytes would form valid UTF-8 (for example
/// <c>"\uDCC3\uDCA9"</c>, whose bytes C3 A9 are "é"), are refused with <see cref="ArgumentException"/>, so the
/// mapping is a bijection and a name can never be written under two spellings.</para>
/// <para>Names that are valid UTF-8 (almost all) decode to the usual string, with no escape.</para>
/// </remarks>
public static class UnixPathEncoding
{
    private const char EscapeFirst = '\uDC80';
    private const char EscapeLast = '\uDCFF';
    private const int StackLimit = 512;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Decodes name or path bytes to a string; never fails.</summary>
    /// <param name="bytes">The raw bytes (without a terminating NUL).</param>
    public static string GetString(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
        {
            return Encoding.UTF8.GetString(bytes);
        }

        // Every byte becomes at most one char (a 4-byte sequence becomes two).
        if (bytes.Length <= StackLimit)
        {
            Span<char> chars = stackalloc char[bytes.Length];
            return new string(chars[..Decode(bytes, chars)]);
        }

        char[] rented = ArrayPool<char>.Shared.Rent(bytes.Length);
        try
        {
            return new string(rented, 0, Decode(bytes, rented));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    /// <summary>Encodes a name or path to its bytes.</summary>
    /// <exception cref="ArgumentException">The string holds a lone surrogate outside U+DC80–U+DCFF, or escapes
    /// that <see cref="GetString"/> would never produce.</exception>
    public static byte[] GetBytes(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return GetBytes(value.AsSpan());
    }

    /// <inheritdoc cref="GetBytes(string)"/>
    public static byte[] GetBytes(ReadOnlySpan<char> value)
    {
        int count = GetByteCount(value);
        byte[] result = new byte[count];
        Encode(value, result, strict: true);
        return result;
    }

    /// <summary>The number of bytes <see cref="GetBytes(ReadOnlySpan{char})"/> gives.</summary>
    /// <exception cref="ArgumentException">The string cannot be encoded (see <see cref="GetBytes(string)"/>).</exception>
    public static int GetByteCount(ReadOnlySpan<char> value)
    {
        if (!NeedsSlowPath(value))
        {
            try
            {
                return StrictUtf8.GetByteCount(value);
            }
            catch (EncoderFallbackException e)
            {
                throw Unencodable(value, e);
            }
        }

        int count = CountBytes(value, strict: true);
        if (!IsCanonical(value, count))
        {
            throw new ArgumentException(
                $"The name '{value}' holds escaped bytes (U+DC80–U+DCFF) that form valid UTF-8; write the characters instead.", nameof(value));
        }

        return count;
    }

    /// <summary>Encodes into <paramref name="destination"/>; false (nothing useful written) when it is too small.</summary>
    /// <exception cref="ArgumentException">The string cannot be encoded (see <see cref="GetBytes(string)"/>).</exception>
    public static bool TryGetBytes(ReadOnlySpan<char> value, Span<byte> destination, out int bytesWritten)
    {
        int count = GetByteCount(value);
        if (count > destination.Length)
        {
            bytesWritten = 0;
            return false;
        }

        bytesWritten = Encode(value, destination, strict: true);
        return true;
    }

    /// <summary>Whether <paramref name="value"/> can be encoded (is a string <see cref="GetString"/> can return).</summary>
    public static bool IsEncodable(ReadOnlySpan<char> value)
    {
        try
        {
            _ = GetByteCount(value);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Orders strings as their encoded bytes would sort (<c>LC_ALL=C</c> order, as <c>ls</c> and cpio sort).</summary>
    public static IComparer<string> ByteOrder { get; } = Comparer<string>.Create(static (a, b) => CompareBytes(a, b));

    /// <summary>Compares two names by their encoded bytes (lenient: no validation), without allocating.</summary>
    public static int CompareBytes(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        Span<byte> ba = stackalloc byte[4];
        Span<byte> bb = stackalloc byte[4];
        int ia = 0, ib = 0, na = 0, nb = 0, pa = 0, pb = 0;
        while (true)
        {
            if (pa == na)
            {
                if (ia == a.Length)
                {
                    return (ib == b.Length && pb == nb) ? 0 : -1;
                }

                na = NextBytes(a, ref ia, ba);
                pa = 0;
            }

            if (pb == nb)
            {
                if (ib == b.Length)
                {
                    return 1;
                }

                nb = NextBytes(b, ref ib, bb);
                pb = 0;
            }

            int d = ba[pa++] - bb[pb++];
            if (d != 0)
            {
                return d;
            }
        }
    }

    private static int NextBytes(ReadOnlySpan<char> s, ref int i, Span<byte> destination)
    {
        int take = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
        int n = Encode(s.Slice(i, take), destination, strict: false);
        i += take;
        return n;
    }

    /// <summary>
    /// Encodes for display (a terminal, a listing): escapes become their bytes whatever surrounds them, other lone
    /// surrogates become U+FFFD. Never fails. Returns the bytes written; <paramref name="destination"/> needs
    /// 3 bytes per char.
    /// </summary>
    internal static int EncodeLenient(ReadOnlySpan<char> value, Span<byte> destination) => Encode(value, destination, strict: false);

    /// <summary>The number of bytes <see cref="EncodeLenient"/> writes for <paramref name="value"/>.</summary>
    internal static int GetByteCountLenient(ReadOnlySpan<char> value) => CountBytes(value, strict: false);

    /// <summary>
    /// Bytes of the encoding: 1–3 per char, 4 per surrogate pair, 1 per escaped byte; a lone surrogate
    /// outside the escape range throws when <paramref name="strict"/>, else counts as U+FFFD (3).
    /// </summary>
    private static int CountBytes(ReadOnlySpan<char> value, bool strict)
    {
        int count = 0;
        int i = 0;
        while (i < value.Length)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                count += 4;
                i += 2;
                continue;
            }

            count += c switch
            {
                < '\u0080' => 1,
                < '\u0800' => 2,
                >= EscapeFirst and <= EscapeLast => 1,
                >= '\uD800' and <= '\uDFFF' when strict => throw Unencodable(value, null),
                _ => 3,
            };
            i++;
        }

        return count;
    }

    /// <summary>Decodes into <paramref name="destination"/> (at least one char per byte); returns the chars written.</summary>
    internal static int Decode(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        int w = 0;
        int i = 0;
        while (i < bytes.Length)
        {
            byte b = bytes[i];
            if (b < 0x80)
            {
                destination[w++] = (char)b;
                i++;
                continue;
            }

            int length = SequenceLength(bytes[i..]);
            if (length == 0)
            {
                destination[w++] = (char)(EscapeFirst + (b - 0x80));
                i++;
                continue;
            }

            int cp = length switch
            {
                2 => ((b & 0x1F) << 6) | (bytes[i + 1] & 0x3F),
                3 => ((b & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F),
                _ => ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3F) << 12) | ((bytes[i + 2] & 0x3F) << 6) | (bytes[i + 3] & 0x3F),
            };
            if (cp >= 0x10000)
            {
                cp -= 0x10000;
                destination[w++] = (char)(0xD800 + (cp >> 10));
                destination[w++] = (char)(0xDC00 + (cp & 0x3FF));
            }
            else
            {
                destination[w++] = (char)cp;
            }

            i += length;
        }

        return w;
    }

    /// <summary>The length of the valid UTF-8 sequence at the start of <paramref name="s"/> (first byte ≥ 0x80), or 0.</summary>
    private static int SequenceLength(ReadOnlySpan<byte> s)
    {
        byte b = s[0];
        (int length, byte lo, byte hi) = b switch
        {
            >= 0xC2 and <= 0xDF => (2, (byte)0x80, (byte)0xBF),
            0xE0 => (3, (byte)0xA0, (byte)0xBF),
            >= 0xE1 and <= 0xEC => (3, (byte)0x80, (byte)0xBF),
            0xED => (3, (byte)0x80, (byte)0x9F),
            >= 0xEE and <= 0xEF => (3, (byte)0x80, (byte)0xBF),
            0xF0 => (4, (byte)0x90, (byte)0xBF),
            >= 0xF1 and <= 0xF3 => (4, (byte)0x80, (byte)0xBF),
            0xF4 => (4, (byte)0x80, (byte)0x8F),
            _ => (0, (byte)0, (byte)0),
        };
        if (length == 0 || s.Length < length || s[1] < lo || s[1] > hi)
        {
            return 0;
        }

        for (int k = 2; k < length; k++)
        {
            if ((s[k] & 0xC0) != 0x80)
            {
                return 0;
            }
        }

        return length;
    }

    private static bool NeedsSlowPath(ReadOnlySpan<char> value) => value.IndexOfAnyInRange(EscapeFirst, EscapeLast) >= 0;

    private static int Encode(ReadOnlySpan<char> value, Span<byte> destination, bool strict)
    {
        if (strict && !NeedsSlowPath(value))
        {
            try
            {
                return StrictUtf8.GetBytes(value, destination);
            }
            catch (EncoderFallbackException e)
            {
                throw Unencodable(value, e);
            }
        }

        int w = 0;
        int i = 0;
        while (i < value.Length)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, value[i + 1]);
                destination[w++] = (byte)(0xF0 | (cp >> 18));
                destination[w++] = (byte)(0x80 | ((cp >> 12) & 0x3F));
                destination[w++] = (byte)(0x80 | ((cp >> 6) & 0x3F));
                destination[w++] = (byte)(0x80 | (cp & 0x3F));
                i += 2;
                continue;
            }

            if (c is >= EscapeFirst and <= EscapeLast)
            {
                destination[w++] = (byte)(c - EscapeFirst + 0x80);
            }
            else if (c < '\u0080')
            {
                destination[w++] = (byte)c;
            }
            else if (c < '\u0800')
            {
                destination[w++] = (byte)(0xC0 | (c >> 6));
                destination[w++] = (byte)(0x80 | (c & 0x3F));
            }
            else
            {
                if (char.IsSurrogate(c))
                {
                    if (strict)
                    {
                        throw Unencodable(value, null);
                    }

                    c = '\uFFFD';
                }

                destination[w++] = (byte)(0xE0 | (c >> 12));
                destination[w++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                destination[w++] = (byte)(0x80 | (c & 0x3F));
            }

            i++;
        }

        return w;
    }

    /// <summary>Whether the <paramref name="count"/> bytes of <paramref name="value"/> decode back to it.</summary>
    private static bool IsCanonical(ReadOnlySpan<char> value, int count)
    {
        byte[]? rented = count > StackLimit ? ArrayPool<byte>.Shared.Rent(count) : null;
        try
        {
            Span<byte> bytes = rented is null ? stackalloc byte[StackLimit] : rented;
            return IsCanonical(value, bytes[..Encode(value, bytes, strict: false)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Whether decoding <paramref name="bytes"/> gives back <paramref name="value"/>.</summary>
    private static bool IsCanonical(ReadOnlySpan<char> value, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < value.Length)
        {
            return false;
        }

        char[]? rented = bytes.Length > StackLimit ? ArrayPool<char>.Shared.Rent(bytes.Length) : null;
        try
        {
            Span<char> chars = rented is null ? stackalloc char[StackLimit] : rented;
            return chars[..Decode(bytes, chars)].SequenceEqual(value);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static ArgumentException Unencodable(ReadOnlySpan<char> value, Exception? inner) =>
        new($"The name '{value}' holds a lone surrogate outside U+DC80–U+DCFF and cannot be written as bytes.", nameof(value), inner);
}
