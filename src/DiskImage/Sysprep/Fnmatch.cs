namespace DiskImage.Sysprep;

/// <summary>
/// Shell wildcard matching of one file name, as <c>fnmatch(3)</c> with <c>FNM_PERIOD</c> (a leading '.' is
/// matched only by a literal '.'), which is how <c>glob(3)</c> matches each path component.
/// </summary>
internal static class Fnmatch
{
    /// <summary>Whether <paramref name="pattern"/> holds a wildcard ('*', '?' or '[').</summary>
    public static bool HasWildcard(string pattern) => pattern.AsSpan().IndexOfAny('*', '?', '[') >= 0;

    /// <summary>Whether <paramref name="name"/> matches <paramref name="pattern"/>.</summary>
    /// <param name="pattern">'*', '?', bracket expressions ('[a-z]', '[!x]', '[^x]'); '\' escapes the next character unless <paramref name="noEscape"/>.</param>
    /// <param name="name">One file name (no '/').</param>
    /// <param name="period">A leading '.' of the name must be matched by a literal '.' (FNM_PERIOD).</param>
    /// <param name="noEscape">'\' is an ordinary character (FNM_NOESCAPE).</param>
    public static bool IsMatch(string pattern, string name, bool period = true, bool noEscape = false)
    {
        if (period && name.Length > 0 && name[0] == '.' && (pattern.Length == 0 || pattern[0] != '.'))
        {
            // Only a literal '.' (possibly escaped) matches a leading period.
            if (!(pattern.Length >= 2 && !noEscape && pattern[0] == '\\' && pattern[1] == '.'))
            {
                return false;
            }
        }

        return Match(pattern, 0, name, 0, noEscape);
    }

    private static bool Match(string p, int pi, string s, int si, bool noEscape)
    {
        // Iterative with one backtrack point for the last '*': linear for the patterns sysprep uses.
        int starP = -1;
        int starS = -1;
        while (true)
        {
            if (pi < p.Length)
            {
                char c = p[pi];
                if (c == '*')
                {
                    starP = ++pi;
                    starS = si;
                    continue;
                }

                if (si < s.Length)
                {
                    if (c == '?')
                    {
                        pi++;
                        si++;
                        continue;
                    }

                    if (c == '[' && TryBracket(p, pi, s[si], out int next, out bool matched))
                    {
                        if (matched)
                        {
                            pi = next;
                            si++;
                            continue;
                        }
                    }
                    else
                    {
                        int lit = pi;
                        if (c == '\\' && !noEscape && pi + 1 < p.Length)
                        {
                            lit = pi + 1;
                        }

                        if (p[lit] == s[si])
                        {
                            pi = lit + 1;
                            si++;
                            continue;
                        }
                    }
                }
            }
            else if (si == s.Length)
            {
                return true;
            }

            if (starP < 0 || starS >= s.Length)
            {
                return false;
            }

            pi = starP;
            si = ++starS;
        }
    }

    /// <summary>Parses the bracket expression at <paramref name="start"/>; false when it is not closed (then '[' is literal).</summary>
    private static bool TryBracket(string p, int start, char c, out int next, out bool matched)
    {
        int i = start + 1;
        bool negate = i < p.Length && (p[i] == '!' || p[i] == '^');
        if (negate)
        {
            i++;
        }

        bool any = false;
        bool first = true;
        while (i < p.Length && (p[i] != ']' || first))
        {
            first = false;
            char lo = p[i];
            if (lo == '\\' && i + 1 < p.Length)
            {
                lo = p[++i];
            }

            char hi = lo;
            if (i + 2 < p.Length && p[i + 1] == '-' && p[i + 2] != ']')
            {
                hi = p[i + 2];
                i += 2;
            }

            if (c >= lo && c <= hi)
            {
                any = true;
            }

            i++;
        }

        if (i >= p.Length)
        {
            next = start;
            matched = false;
            return false;
        }

        next = i + 1;
        matched = any != negate;
        return true;
    }
}
