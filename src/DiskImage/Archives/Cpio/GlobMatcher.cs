namespace DiskImage.Archives.Cpio;

/// <summary>fnmatch(3)-style matching without flags: <c>*</c>, <c>?</c>, <c>[...]</c> (with <c>!</c>/<c>^</c> negation and ranges) and <c>\</c> escapes.</summary>
internal static class GlobMatcher
{
    /// <summary>Whether <paramref name="text"/> matches <paramref name="pattern"/> as a whole.</summary>
    public static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0;
        int t = 0;
        int starP = -1;
        int starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starP = ++p;
                starT = t;
                continue;
            }

            if (p < pattern.Length && MatchOne(pattern, ref p, text[t]))
            {
                t++;
                continue;
            }

            if (starP < 0)
            {
                return false;
            }

            p = starP;
            t = ++starT;
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>Matches one pattern element at <paramref name="p"/> against <paramref name="c"/>, advancing past the element on success.</summary>
    private static bool MatchOne(ReadOnlySpan<char> pattern, ref int p, char c)
    {
        char first = pattern[p];
        if (first == '?')
        {
            p++;
            return true;
        }

        if (first == '\\' && p + 1 < pattern.Length)
        {
            if (pattern[p + 1] != c)
            {
                return false;
            }

            p += 2;
            return true;
        }

        if (first == '[')
        {
            int i = p + 1;
            bool negate = i < pattern.Length && pattern[i] is '!' or '^';
            if (negate)
            {
                i++;
            }

            bool matched = false;
            int start = i;
            while (i < pattern.Length && (pattern[i] != ']' || i == start))
            {
                char lo = pattern[i];
                if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
                {
                    matched |= c >= lo && c <= pattern[i + 2];
                    i += 3;
                }
                else
                {
                    matched |= c == lo;
                    i++;
                }
            }

            if (i >= pattern.Length)
            {
                // No closing bracket: '[' is literal.
                if (c != '[')
                {
                    return false;
                }

                p++;
                return true;
            }

            if (matched == negate)
            {
                return false;
            }

            p = i + 1;
            return true;
        }

        if (first != c)
        {
            return false;
        }

        p++;
        return true;
    }
}
