using System.Text;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// FAT names: 8.3 short names (OEM code page 437, the NT lower-case flags), long-name checks, the LFN
/// checksum, and the short alias of a new long name (fatgen103 §7; the mtools / Windows NT convention:
/// a name that is 8.3 in one case per part gets no long-name entries, other names get a numeric "~n" tail
/// when the conversion loses information or collides).
/// </summary>
internal static class FatNames
{
    /// <summary>NTRes bit: the base name is shown in lower case.</summary>
    public const byte LowerBase = 0x08;

    /// <summary>NTRes bit: the extension is shown in lower case.</summary>
    public const byte LowerExtension = 0x10;

    /// <summary>Longest long name in UTF-16 units.</summary>
    public const int MaxLongName = 255;

    private static readonly Encoding Oem = CodePagesEncodingProvider.Instance.GetEncoding(437) ?? Encoding.Latin1;

    /// <summary>The LFN checksum of an 11-byte short name (fatgen103 §7, <c>ChkSum</c>).</summary>
    public static byte Checksum(ReadOnlySpan<byte> shortName)
    {
        byte sum = 0;
        for (int i = 0; i < 11; i++)
        {
            sum = (byte)(((sum & 1) << 7) + (sum >> 1) + shortName[i]);
        }

        return sum;
    }

    /// <summary>The displayed form of an 11-byte short name ("NAME.EXT", lower-cased per the NTRes bits).</summary>
    public static string DecodeShortName(ReadOnlySpan<byte> name, byte ntCase)
    {
        Span<byte> b = stackalloc byte[11];
        name[..11].CopyTo(b);
        if (b[0] == 0x05)
        {
            b[0] = 0xE5;
        }

        int baseLen = 8;
        while (baseLen > 0 && b[baseLen - 1] == ' ')
        {
            baseLen--;
        }

        int extLen = 3;
        while (extLen > 0 && b[8 + extLen - 1] == ' ')
        {
            extLen--;
        }

        string bas = Decode(b[..baseLen], (ntCase & LowerBase) != 0);
        return extLen == 0 ? bas : bas + "." + Decode(b.Slice(8, extLen), (ntCase & LowerExtension) != 0);
    }

    /// <summary>A volume label (11 OEM bytes, space-padded); "NO NAME" reads as empty.</summary>
    public static string DecodeLabel(ReadOnlySpan<byte> label)
    {
        string s = Oem.GetString(label[..11]).TrimEnd(' ', '\0');
        return s == "NO NAME" ? string.Empty : s;
    }

    /// <summary>Encodes a volume label: upper case, 1–11 bytes of valid short-name characters.</summary>
    /// <exception cref="ArgumentException">The label is too long or holds a character a label cannot hold.</exception>
    public static byte[] EncodeLabel(string? label)
    {
        byte[] b = "NO NAME    "u8.ToArray();
        if (string.IsNullOrEmpty(label))
        {
            return b;
        }

        string upper = label.ToUpperInvariant();
        if (upper.Length > 11 || upper[0] == ' ')
        {
            throw new ArgumentException($"The FAT volume label '{label}' must be 1 to 11 characters and not start with a space.", nameof(label));
        }

        b.AsSpan().Fill((byte)' ');
        for (int i = 0; i < upper.Length; i++)
        {
            char c = upper[i];
            if (c != ' ' && !IsShortNameChar(c))
            {
                throw new ArgumentException($"The FAT volume label '{label}' holds '{c}', which a label cannot hold.", nameof(label));
            }

            b[i] = (byte)c;
        }

        return b;
    }

    /// <summary>Checks a name for a new entry: 1–255 UTF-16 units, no control characters, none of <c>"*/:&lt;&gt;?\|</c>, no trailing dot or space.</summary>
    /// <exception cref="ArgumentException">The name cannot be stored on FAT.</exception>
    public static void ValidateLongName(string name)
    {
        if (name.Length is 0 or > MaxLongName)
        {
            throw new PathTooLongException($"The name '{name}' is longer than FAT's 255 characters.");
        }

        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c < 0x20 || c is '"' or '*' or '/' or ':' or '<' or '>' or '?' or '\\' or '|' or '\x7F')
            {
                throw new ArgumentException($"The name '{name}' holds a character FAT cannot store ('{(c < 0x20 ? "\\x" + ((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture) : c)}').", "path");
            }

            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[++i])))
            {
                throw new ArgumentException($"The name '{name}' holds bytes that are not UTF-8; FAT stores names as Unicode.", "path");
            }
        }

        if (name[^1] is '.' or ' ')
        {
            throw new ArgumentException($"The name '{name}' ends with a dot or a space, which FAT drops.", "path");
        }
    }

    /// <summary>
    /// Chooses the short entry of a new name. Returns the 11 bytes, the NTRes case bits, and whether long-name
    /// entries are needed. <paramref name="taken"/> says whether a short name is already used in the directory.
    /// </summary>
    public static (byte[] ShortName, byte NtCase, bool NeedsLongName) CreateShortName(string name, Func<byte[], bool> taken)
    {
        byte[] exact = new byte[11];
        if (TryExact(name, exact, out byte nt, out bool mixed) && !taken(exact))
        {
            return (exact, mixed ? (byte)0 : nt, mixed);
        }

        // The basis name (fatgen103 §7.2 steps): upper case, no spaces, no leading dots, only the last dot.
        string s = name.Replace(" ", string.Empty, StringComparison.Ordinal).TrimStart('.');
        int dot = s.LastIndexOf('.');
        string bas = dot < 0 ? s : s[..dot].Replace(".", string.Empty, StringComparison.Ordinal);
        string ext = dot < 0 ? string.Empty : s[(dot + 1)..];
        var b = new StringBuilder(8);
        Convert(bas, b, 8);
        var e = new StringBuilder(3);
        Convert(ext, e, 3);
        if (b.Length == 0)
        {
            b.Append('_');
        }

        byte[] result = new byte[11];
        for (int n = 1; n < 1_000_000; n++)
        {
            string tail = "~" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string head = b.ToString(0, Math.Min(b.Length, 8 - tail.Length)) + tail;
            result.AsSpan().Fill((byte)' ');
            Encoding.ASCII.GetBytes(head, result);
            Encoding.ASCII.GetBytes(e.ToString(), result.AsSpan(8));
            if (!taken(result))
            {
                return (result, 0, true);
            }
        }

        throw new IOException($"No free short name for '{name}' in the directory.");
    }

    /// <summary>Whether an on-disk 8.3 name can be shown as a path component: no control characters, no '/', and not all spaces.</summary>
    public static bool IsDisplayableShortName(ReadOnlySpan<byte> name)
    {
        if (name[0] == ' ')
        {
            return false;
        }

        for (int i = 0; i < 11; i++)
        {
            byte b = name[i];
            if ((b < 0x20 && !(i == 0 && b == 0x05)) || b is (byte)'/' or (byte)'\\')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="c"/> may appear in a short name (upper-case ASCII set of fatgen103 §6.1).</summary>
    public static bool IsShortNameChar(char c) =>
        c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '!' or '#' or '$' or '%' or '&' or '\'' or '(' or ')' or '-' or '@' or '^' or '_' or '`' or '{' or '}' or '~';

    private static void Convert(string part, StringBuilder into, int max)
    {
        foreach (char ch in part)
        {
            if (into.Length == max)
            {
                return;
            }

            char u = char.ToUpperInvariant(ch);
            into.Append(IsShortNameChar(u) ? u : '_');
        }
    }

    /// <summary>Whether the name is a valid 8.3 name as it stands, each part in one case; <paramref name="mixed"/> when a part mixes cases.</summary>
    private static bool TryExact(string name, byte[] into, out byte ntCase, out bool mixed)
    {
        ntCase = 0;
        mixed = false;
        int dot = name.IndexOf('.');
        string bas = dot < 0 ? name : name[..dot];
        string ext = dot < 0 ? string.Empty : name[(dot + 1)..];
        if (bas.Length is 0 or > 8 || ext.Length > 3 || (dot >= 0 && ext.Length == 0) || ext.Contains('.', StringComparison.Ordinal))
        {
            return false;
        }

        into.AsSpan().Fill((byte)' ');
        if (!Part(bas, into.AsSpan(0, 8), out bool lowerBase, out bool mixedBase) || !Part(ext, into.AsSpan(8, 3), out bool lowerExt, out bool mixedExt))
        {
            return false;
        }

        mixed = mixedBase || mixedExt;
        ntCase = (byte)((lowerBase ? LowerBase : 0) | (lowerExt ? LowerExtension : 0));
        return true;
    }

    private static bool Part(string part, Span<byte> into, out bool lower, out bool mixed)
    {
        bool hasLower = false, hasUpper = false;
        for (int i = 0; i < part.Length; i++)
        {
            char c = part[i];
            hasLower |= c is >= 'a' and <= 'z';
            hasUpper |= c is >= 'A' and <= 'Z';
            char u = char.ToUpperInvariant(c);
            if (u > 0x7F || !IsShortNameChar(u))
            {
                lower = mixed = false;
                return false;
            }

            into[i] = (byte)u;
        }

        lower = hasLower && !hasUpper;
        mixed = hasLower && hasUpper;
        return true;
    }

    private static string Decode(ReadOnlySpan<byte> bytes, bool lower)
    {
        string s = Oem.GetString(bytes);
        return lower ? s.ToLowerInvariant() : s;
    }
}
