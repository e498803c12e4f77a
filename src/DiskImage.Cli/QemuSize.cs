using System.Globalization;

namespace DiskImage.Cli;

/// <summary>Size arguments the way qemu-img reads them: bytes with an optional fraction and a k/M/G/T/P/E (or B) suffix, powers of 1024.</summary>
internal static class QemuSize
{
    /// <summary>The message qemu-img prints after a bad size ("Invalid image size specified." etc.).</summary>
    public static readonly string SuffixHint = " You may use k, M, G, T, P or E suffixes for\n" + Cli.ProgramName + ": kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.";

    /// <summary>
    /// Parses <paramref name="text"/> (e.g. "10G", "1.5M", "512", "64k"). <paramref name="defaultUnit"/>
    /// applies without a suffix. A fraction needs a suffix other than B. Fails on negative values,
    /// junk, or results of 2^63 and more.
    /// </summary>
    public static bool TryParse(string text, out long value, long defaultUnit = 1)
    {
        value = 0;
        text = text?.TrimStart(' ', '\t', '\n', '\r', '\v', '\f') ?? string.Empty;
        if (text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        {
            // Hexadecimal is accepted for plain byte counts, as qemu's parser does.
            return long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && value >= 0;
        }

        int i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        if (i == 0)
        {
            return false;
        }

        string integerPart = text[..i];
        string fractionPart = string.Empty;
        if (i < text.Length && text[i] == '.')
        {
            int start = ++i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            fractionPart = text[start..i];
        }

        long unit = defaultUnit;
        if (i < text.Length)
        {
            unit = char.ToUpperInvariant(text[i]) switch
            {
                'B' => 1L,
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                'P' => 1L << 50,
                'E' => 1L << 60,
                _ => 0,
            };
            if (unit == 0 || i + 1 != text.Length)
            {
                return false;
            }
        }

        if (fractionPart.Length > 0 && unit == 1)
        {
            return false;
        }

        if (!ulong.TryParse(integerPart, NumberStyles.None, CultureInfo.InvariantCulture, out ulong whole))
        {
            return false;
        }

        // whole * unit + fraction * unit, refusing anything that does not fit in a long.
        if (whole > (ulong)long.MaxValue / (ulong)unit)
        {
            return false;
        }

        ulong result = whole * (ulong)unit;
        if (fractionPart.Length > 0)
        {
            double fraction = double.Parse("0." + fractionPart, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            result += (ulong)(fraction * unit);
        }

        if (result > long.MaxValue)
        {
            return false;
        }

        value = (long)result;
        return true;
    }

    /// <summary>qemu's human size ("1 GiB", "196 KiB", "0.977 KiB"): three significant digits, switching unit at 1000.</summary>
    public static string ToHuman(long bytes)
    {
        ReadOnlySpan<string> suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        double scaled = bytes / (1000.0 / 1024.0);
        int exponent = scaled <= 0 ? 0 : Math.ILogB(scaled) + 1;

        // frexp's exponent minus one gives floor(log2); integer division by 10 picks the unit.
        int unitIndex = Math.Clamp((exponent - 1) / 10, 0, suffixes.Length - 1);
        double value = bytes / Math.Pow(2, unitIndex * 10);
        return FormatG3(value) + " " + suffixes[unitIndex] + "B";
    }

    /// <summary>printf's <c>%.2f</c>: two decimals, an exact half rounded to even as glibc does.</summary>
    public static string FormatF2(double value) =>
        Math.Round(value, 2, MidpointRounding.ToEven).ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>printf's <c>%0.3g</c> for values below 1000.</summary>
    internal static string FormatG3(double value) =>
        value.ToString("G3", CultureInfo.InvariantCulture).Replace("E+0", "e+0", StringComparison.Ordinal);
}
