using System.Text;
using System.Text.RegularExpressions;

namespace DiskImage.Customization;

/// <summary>
/// <c>--edit FILE:s/REGEX/REPLACEMENT/FLAGS</c>: a .NET regular-expression substitution applied to each line
/// (without its line ending), as <c>perl -pe 's/…/…/'</c> would apply virt-customize's Perl expression.
/// Any delimiter may follow <c>s</c>; FLAGS are <c>g</c> (every match), <c>i</c>, <c>m</c>, <c>s</c>, <c>x</c>;
/// <c>\1</c> in the replacement means <c>$1</c>. The file is rewritten in place (owner, mode and labels kept).
/// Binary files (NUL bytes or invalid UTF-8) are refused.
/// </summary>
internal sealed class EditOperation : CustomizeOperation
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _path;
    private readonly Regex _regex;
    private readonly string _replacement;
    private readonly bool _global;

    public EditOperation(string argument)
        : base("edit", argument)
    {
        (_path, string expr) = SplitPair("FILE:EXPR");
        (_regex, _replacement, _global) = ParseSubstitution(expr) ?? throw new CustomizationException(ToString(), "expected a substitution s/REGEX/REPLACEMENT/[gimsx] (Perl expressions other than s/// are not supported)");
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(_path);
        byte[] old = t.ReadAllBytes(path);
        if (!TextFile.IsText(old))
        {
            throw t.Error($"'{path}' is a binary file (it holds NUL bytes or is not UTF-8); edit works on text files");
        }

        string text = Encoding.UTF8.GetString(old);
        var sb = new StringBuilder(text.Length + 64);
        int pos = 0;
        try
        {
            while (pos < text.Length)
            {
                int nl = text.IndexOf('\n', pos);
                int lineEnd = nl < 0 ? text.Length : nl;
                int contentEnd = lineEnd > pos && text[lineEnd - 1] == '\r' ? lineEnd - 1 : lineEnd;
                string line = text[pos..contentEnd];
                sb.Append(_global ? _regex.Replace(line, _replacement) : _regex.Replace(line, _replacement, 1));
                sb.Append(text, contentEnd, (nl < 0 ? text.Length : nl + 1) - contentEnd);
                pos = nl < 0 ? text.Length : nl + 1;
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            throw t.Error("the regular expression took too long", e);
        }

        t.WriteFile(path, Encoding.UTF8.GetBytes(sb.ToString()));
    }

    private static (Regex, string, bool)? ParseSubstitution(string expr)
    {
        if (expr.Length < 4 || expr[0] != 's' || char.IsLetterOrDigit(expr[1]) || char.IsWhiteSpace(expr[1]))
        {
            return null;
        }

        char d = expr[1];
        var parts = new List<StringBuilder> { new() };
        for (int i = 2; i < expr.Length; i++)
        {
            char c = expr[i];
            if (c == '\\' && i + 1 < expr.Length && expr[i + 1] == d)
            {
                parts[^1].Append(d);
                i++;
            }
            else if (c == d && parts.Count < 3)
            {
                parts.Add(new StringBuilder());
            }
            else
            {
                parts[^1].Append(c);
            }
        }

        if (parts.Count != 3)
        {
            return null;
        }

        var options = RegexOptions.CultureInvariant;
        bool global = false;
        foreach (char f in parts[2].ToString())
        {
            switch (f)
            {
                case 'g': global = true; break;
                case 'i': options |= RegexOptions.IgnoreCase; break;
                case 'm': options |= RegexOptions.Multiline; break;
                case 's': options |= RegexOptions.Singleline; break;
                case 'x': options |= RegexOptions.IgnorePatternWhitespace; break;
                default: return null;
            }
        }

        Regex regex;
        try
        {
            regex = new Regex(parts[0].ToString(), options, Timeout);
        }
        catch (ArgumentException)
        {
            return null;
        }

        // Perl's \1 in the replacement is .NET's $1; a literal '$' stays as Perl wrote it ("$$" in .NET).
        string replacement = Regex.Replace(parts[1].ToString(), @"\\(\d)", "$$$1");
        return (regex, replacement, global);
    }
}
