using System.Text;

namespace DiskImage.Security;

/// <summary>
/// Turns a file_contexts regular expression into a .NET pattern that matches the same paths as
/// libselinux's PCRE2 (compiled as <c>^regex$</c> with <c>PCRE2_DOTALL</c>, no UTF mode, so it runs on bytes).
/// </summary>
/// <remarks>
/// Paths reach the .NET regex as one char per byte (Latin-1), so <c>.</c> and <c>[^/]</c> consume one byte
/// as PCRE does. What .NET reads differently is rewritten: <c>\d \w \s \b</c> and POSIX classes become their
/// ASCII sets (in .NET they are Unicode-aware and would match bytes 0x80–0xFF), a <c>[</c> or a leading
/// <c>]</c> inside a class is escaped (no .NET class subtraction), a <c>{</c> that is not a quantifier is
/// escaped, <c>\Q…\E</c> is quoted and <c>(?P&lt;name&gt;</c> becomes <c>(?&lt;name&gt;</c>. Constructs with
/// no .NET equivalent (possessive quantifiers, <c>\K</c>, <c>\R</c>, <c>\h</c>, recursion, negated shorthand
/// classes inside brackets) are refused with <see cref="NotSupportedException"/>.
/// </remarks>
internal static class SelinuxRegexTranslator
{
    private const string Digit = "0-9";
    private const string Word = "0-9A-Za-z_";
    private const string Space = "\\t\\n\\x0B\\f\\r ";

    /// <summary>Translates <paramref name="pattern"/> (the unanchored spec text) to an anchored .NET pattern.</summary>
    public static string Translate(string pattern)
    {
        var sb = new StringBuilder(pattern.Length + 16);
        sb.Append('^');
        int i = 0;
        while (i < pattern.Length)
        {
            char c = pattern[i];
            switch (c)
            {
                case '\\':
                    i = Escape(pattern, i, sb);
                    break;
                case '[':
                    i = CharacterClass(pattern, i, sb);
                    break;
                case '{':
                    if (IsQuantifier(pattern, i, out int end))
                    {
                        sb.Append(pattern, i, end - i);
                        i = end;
                        RefusePossessive(pattern, i);
                    }
                    else
                    {
                        sb.Append("\\{");
                        i++;
                    }

                    break;
                case '*' or '+' or '?':
                    sb.Append(c);
                    i++;
                    RefusePossessive(pattern, i);
                    break;
                case '(':
                    i = Group(pattern, i, sb);
                    break;
                case '}':
                    sb.Append("\\}");
                    i++;
                    break;
                default:
                    sb.Append(c);
                    i++;
                    break;
            }
        }

        sb.Append('$');
        return sb.ToString();
    }

    /// <summary>
    /// The text every match must start with (may be empty): the literal characters before the first
    /// metacharacter, minus the last one when a quantifier follows it; empty when an alternation is not
    /// inside parentheses (then the pattern has branches that need not start the same way).
    /// </summary>
    public static string RequiredPrefix(string pattern)
    {
        if (HasTopLevelAlternation(pattern))
        {
            return string.Empty;
        }

        var sb = new StringBuilder();
        int lastLength = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c is '?' or '*' or '{')
            {
                sb.Length = lastLength; // the character before a quantifier is optional
                break;
            }

            if (c is '.' or '^' or '$' or '+' or '|' or '[' or '(' or ')' or '}')
            {
                break;
            }

            if (c == '\\')
            {
                if (i + 1 >= pattern.Length || char.IsAsciiLetterOrDigit(pattern[i + 1]))
                {
                    break;
                }

                lastLength = sb.Length;
                sb.Append(pattern[++i]);
                continue;
            }

            lastLength = sb.Length;
            sb.Append(c);
        }

        return sb.ToString();
    }

    private static bool HasTopLevelAlternation(string pattern)
    {
        int depth = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\')
            {
                i++;
            }
            else if (c == '[')
            {
                i = SkipClass(pattern, i) - 1;
            }
            else if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
            }
            else if (c == '|' && depth <= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Index just past the class that starts at <paramref name="start"/> ('['), or the pattern length.</summary>
    private static int SkipClass(string pattern, int start)
    {
        int i = start + 1;
        if (i < pattern.Length && pattern[i] == '^')
        {
            i++;
        }

        if (i < pattern.Length && pattern[i] == ']')
        {
            i++;
        }

        while (i < pattern.Length && pattern[i] != ']')
        {
            if (pattern[i] == '\\')
            {
                i++;
            }
            else if (pattern[i] == '[' && i + 1 < pattern.Length && pattern[i + 1] is ':' or '.' or '=')
            {
                int close = pattern.IndexOf(pattern[i + 1] + "]", i + 2, StringComparison.Ordinal);
                if (close > 0)
                {
                    i = close + 1;
                }
            }

            i++;
        }

        return Math.Min(i + 1, pattern.Length);
    }

    private static int Escape(string pattern, int i, StringBuilder sb)
    {
        if (i + 1 >= pattern.Length)
        {
            throw new InvalidDataException($"The regular expression '{pattern}' ends with a lone backslash.");
        }

        char e = pattern[i + 1];
        switch (e)
        {
            case 'd': sb.Append('[').Append(Digit).Append(']'); break;
            case 'D': sb.Append("[^").Append(Digit).Append(']'); break;
            case 'w': sb.Append('[').Append(Word).Append(']'); break;
            case 'W': sb.Append("[^").Append(Word).Append(']'); break;
            case 's': sb.Append('[').Append(Space).Append(']'); break;
            case 'S': sb.Append("[^").Append(Space).Append(']'); break;
            case 'b': sb.Append("(?:(?<=[").Append(Word).Append("])(?![").Append(Word).Append("])|(?<![").Append(Word).Append("])(?=[").Append(Word).Append("]))"); break;
            case 'B': sb.Append("(?:(?<=[").Append(Word).Append("])(?=[").Append(Word).Append("])|(?<![").Append(Word).Append("])(?![").Append(Word).Append("]))"); break;
            case 'Q':
                int stop = pattern.IndexOf("\\E", i + 2, StringComparison.Ordinal);
                string quoted = stop < 0 ? pattern[(i + 2)..] : pattern[(i + 2)..stop];
                foreach (char q in quoted)
                {
                    AppendLiteral(q, sb);
                }

                return stop < 0 ? pattern.Length : stop + 2;
            case 'E':
                return i + 2; // a stray \E is ignored
            case 't' or 'n' or 'r' or 'f' or 'e' or 'a' or 'A' or 'z' or 'Z' or 'G':
                sb.Append('\\').Append(e);
                break;
            case 'x':
                return HexEscape(pattern, i, sb);
            default:
                if (char.IsAsciiDigit(e))
                {
                    throw new NotSupportedException($"The regular expression '{pattern}' uses a back-reference or octal escape, which is not supported.");
                }

                if (char.IsAsciiLetter(e))
                {
                    throw new NotSupportedException($"The regular expression '{pattern}' uses the escape '\\{e}', which is not supported.");
                }

                AppendLiteral(e, sb);
                break;
        }

        return i + 2;
    }

    private static int HexEscape(string pattern, int i, StringBuilder sb)
    {
        int j = i + 2;
        int value = 0;
        if (j < pattern.Length && pattern[j] == '{')
        {
            int close = pattern.IndexOf('}', j);
            if (close < 0 || !int.TryParse(pattern.AsSpan(j + 1, close - j - 1), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out value) || value > 0xff)
            {
                throw new NotSupportedException($"The regular expression '{pattern}' has a \\x{{…}} escape outside a byte.");
            }

            j = close + 1;
        }
        else
        {
            int digits = 0;
            while (digits < 2 && j < pattern.Length && char.IsAsciiHexDigit(pattern[j]))
            {
                value = (value * 16) + Convert.ToInt32(pattern[j].ToString(), 16);
                j++;
                digits++;
            }
        }

        sb.Append("\\x").Append(value.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        return j;
    }

    private static void AppendLiteral(char c, StringBuilder sb)
    {
        if (char.IsAsciiLetterOrDigit(c) || c == '_' || c == '/' || c > 0x7f)
        {
            sb.Append(c);
        }
        else if (c < 0x20 || c == 0x7f)
        {
            sb.Append("\\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            sb.Append('\\').Append(c);
        }
    }

    private static int CharacterClass(string pattern, int start, StringBuilder sb)
    {
        int i = start + 1;
        sb.Append('[');
        if (i < pattern.Length && pattern[i] == '^')
        {
            sb.Append('^');
            i++;
        }

        bool first = true;
        while (true)
        {
            if (i >= pattern.Length)
            {
                throw new InvalidDataException($"The regular expression '{pattern}' has an unterminated character class.");
            }

            char c = pattern[i];
            if (c == ']' && !first)
            {
                sb.Append(']');
                return i + 1;
            }

            first = false;
            if (c == '[' && i + 1 < pattern.Length && pattern[i + 1] == ':')
            {
                int close = pattern.IndexOf(":]", i + 2, StringComparison.Ordinal);
                if (close < 0)
                {
                    throw new InvalidDataException($"The regular expression '{pattern}' has an unterminated POSIX class.");
                }

                sb.Append(PosixClass(pattern, pattern[(i + 2)..close]));
                i = close + 2;
            }
            else if (c == '\\')
            {
                if (i + 1 >= pattern.Length)
                {
                    throw new InvalidDataException($"The regular expression '{pattern}' ends with a lone backslash.");
                }

                char e = pattern[i + 1];
                switch (e)
                {
                    case 'd': sb.Append(Digit); break;
                    case 'w': sb.Append(Word); break;
                    case 's': sb.Append(Space); break;
                    case 'b': sb.Append("\\x08"); break;
                    case 't' or 'n' or 'r' or 'f' or 'e' or 'a': sb.Append('\\').Append(e); break;
                    case 'x':
                        i = HexEscape(pattern, i, sb);
                        continue;
                    default:
                        if (char.IsAsciiLetterOrDigit(e))
                        {
                            throw new NotSupportedException($"The regular expression '{pattern}' uses the escape '\\{e}' inside a character class, which is not supported.");
                        }

                        AppendLiteral(e, sb);
                        break;
                }

                i += 2;
            }
            else if (c is '[' or ']' or '^')
            {
                sb.Append('\\').Append(c);
                i++;
            }
            else
            {
                sb.Append(c);
                i++;
            }
        }
    }

    private static string PosixClass(string pattern, string name) => name switch
    {
        "alpha" => "A-Za-z",
        "digit" => "0-9",
        "alnum" => "0-9A-Za-z",
        "upper" => "A-Z",
        "lower" => "a-z",
        "space" => Space,
        "blank" => "\\t ",
        "punct" => "!-/:-@\\[-`{-~",
        "xdigit" => "0-9A-Fa-f",
        "word" => Word,
        "cntrl" => "\\x00-\\x1F\\x7F",
        "print" => " -~",
        "graph" => "!-~",
        "ascii" => "\\x00-\\x7F",
        _ => throw new NotSupportedException($"The regular expression '{pattern}' uses the POSIX class [:{name}:], which is not supported."),
    };

    private static int Group(string pattern, int i, StringBuilder sb)
    {
        if (i + 1 < pattern.Length && pattern[i + 1] == '?')
        {
            ReadOnlySpan<char> rest = pattern.AsSpan(i + 2);
            if (rest.StartsWith("P<"))
            {
                sb.Append("(?<");
                return i + 4;
            }

            if (rest.StartsWith(":") || rest.StartsWith("=") || rest.StartsWith("!") || rest.StartsWith("<=") || rest.StartsWith("<!") || rest.StartsWith(">"))
            {
                sb.Append("(?");
                return i + 2;
            }

            if (rest.StartsWith("#"))
            {
                int close = pattern.IndexOf(')', i);
                return close < 0 ? pattern.Length : close + 1;
            }

            if (rest.Length > 0 && (rest[0] is 'i' or 'm' or 's' or 'x' or '-' or 'U' or 'J' or 'n' || rest[0] == '<' || rest[0] == '\''))
            {
                if (rest[0] is '<' or '\'')
                {
                    sb.Append("(?");
                    return i + 2; // a named group
                }

                throw new NotSupportedException($"The regular expression '{pattern}' sets inline options, which is not supported.");
            }

            throw new NotSupportedException($"The regular expression '{pattern}' uses a group construct that is not supported.");
        }

        sb.Append('(');
        return i + 1;
    }

    private static bool IsQuantifier(string pattern, int i, out int end)
    {
        // {n}, {n,} or {n,m} (PCRE2 10.42, as in Debian 12 and RHEL 9: {,m} is a literal).
        end = i;
        int j = i + 1;
        int digits = 0;
        while (j < pattern.Length && char.IsAsciiDigit(pattern[j]))
        {
            j++;
            digits++;
        }

        if (digits == 0 || j >= pattern.Length)
        {
            return false;
        }

        if (pattern[j] == ',')
        {
            j++;
            while (j < pattern.Length && char.IsAsciiDigit(pattern[j]))
            {
                j++;
            }
        }

        if (j >= pattern.Length || pattern[j] != '}')
        {
            return false;
        }

        end = j + 1;
        return true;
    }

    private static void RefusePossessive(string pattern, int i)
    {
        if (i < pattern.Length && pattern[i] == '+')
        {
            throw new NotSupportedException($"The regular expression '{pattern}' uses a possessive quantifier, which is not supported.");
        }
    }
}
