namespace DiskImage.Guests;

/// <summary>
/// Orders version-bearing names the way libguestfs' <c>compare_version</c> does: each string is split into runs of
/// digits (compared as numbers), runs of letters, and single other characters; the lists compare element by element.
/// </summary>
internal sealed class GuestVersionComparer : IComparer<string>
{
    public static GuestVersionComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null || y is null)
        {
            return x is null ? -1 : 1;
        }

        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            (int ie, Kind ik) = Token(x, i);
            (int je, Kind jk) = Token(y, j);
            int c;
            if (ik == Kind.Digits && jk == Kind.Digits)
            {
                c = CompareNumbers(x.AsSpan(i, ie - i), y.AsSpan(j, je - j));
            }
            else if (ik != jk)
            {
                // Numbers before words before other characters: a stable, total order between kinds.
                c = ik.CompareTo(jk);
            }
            else
            {
                c = string.CompareOrdinal(x, i, y, j, Math.Max(ie - i, je - j));
            }

            if (c != 0)
            {
                return c;
            }

            i = ie;
            j = je;
        }

        return (x.Length - i).CompareTo(y.Length - j);
    }

    private static int CompareNumbers(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        a = a.TrimStart('0');
        b = b.TrimStart('0');
        return a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.SequenceCompareTo(b);
    }

    private static (int End, Kind Kind) Token(string s, int start)
    {
        char c = s[start];
        Kind kind = char.IsAsciiDigit(c) ? Kind.Digits : char.IsAsciiLetter(c) ? Kind.Letters : Kind.Other;
        if (kind == Kind.Other)
        {
            return (start + 1, kind);
        }

        int end = start + 1;
        while (end < s.Length && (kind == Kind.Digits ? char.IsAsciiDigit(s[end]) : char.IsAsciiLetter(s[end])))
        {
            end++;
        }

        return (end, kind);
    }

    private enum Kind
    {
        Digits,
        Letters,
        Other,
    }
}
