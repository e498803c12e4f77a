using System.Text.RegularExpressions;
using DiskImage.FileSystems;

namespace DiskImage.Security;

/// <summary>One line of a file_contexts file: a path regex, an optional file type and a context (or <c>&lt;&lt;none&gt;&gt;</c>).</summary>
internal sealed class SelinuxFileContextSpec
{
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    private Regex? _regex;

    public SelinuxFileContextSpec(string pattern, UnixFileType? type, string context, string source, int stemId)
    {
        Pattern = pattern;
        Type = type;
        Context = context;
        Source = source;
        StemId = stemId;
        HasMetaChars = ComputeHasMetaChars(pattern);
        Prefix = SelinuxRegexTranslator.RequiredPrefix(pattern);
        IsPlainLiteral = !HasMetaChars && pattern.AsSpan().IndexOfAny('\\', ')') < 0;
    }

    /// <summary>The regex text as written (unanchored).</summary>
    public string Pattern { get; }

    /// <summary>The file type the spec is limited to, or null for any.</summary>
    public UnixFileType? Type { get; }

    /// <summary>The security context, or <c>&lt;&lt;none&gt;&gt;</c>.</summary>
    public string Context { get; }

    /// <summary>File and line, for messages.</summary>
    public string Source { get; }

    /// <summary>Index of the spec's stem (its first path component when that is plain text), or -1.</summary>
    public int StemId { get; }

    /// <summary>libselinux's <c>hasMetaChars</c>: any of <c>. ^ $ ? * + | [ ( {</c> outside a backslash escape.
    /// Specs without them sort after all others.</summary>
    public bool HasMetaChars { get; }

    /// <summary>Text every matching key starts with.</summary>
    public string Prefix { get; }

    private bool IsPlainLiteral { get; }

    /// <summary>Whether the anchored regex matches the whole key (one char per byte).</summary>
    public bool IsMatch(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (IsPlainLiteral)
        {
            // "^literal$": '$' also matches before a final newline.
            return key.Length == Pattern.Length
                ? string.Equals(key, Pattern, StringComparison.Ordinal)
                : key.Length == Pattern.Length + 1 && key[^1] == '\n' && key.StartsWith(Pattern, StringComparison.Ordinal);
        }

        Regex regex = _regex ??= Compile();
        try
        {
            return regex.IsMatch(key);
        }
        catch (RegexMatchTimeoutException ex)
        {
            throw new InvalidDataException($"{Source}: the regular expression '{Pattern}' took too long to match '{key}'.", ex);
        }
    }

    /// <summary>Compiles the regex now (to surface errors before any change is made).</summary>
    public void EnsureCompiled() => _regex ??= IsPlainLiteral ? null : Compile();

    private Regex Compile()
    {
        string translated;
        try
        {
            translated = SelinuxRegexTranslator.Translate(Pattern);
        }
        catch (NotSupportedException ex)
        {
            throw new NotSupportedException($"{Source}: {ex.Message}", ex);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{Source}: {ex.Message}", ex);
        }

        try
        {
            return new Regex(translated, RegexOptions.CultureInvariant | RegexOptions.Singleline, MatchTimeout);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{Source}: the regular expression '{Pattern}' is not valid: {ex.Message}", ex);
        }
    }

    private static bool ComputeHasMetaChars(string pattern)
    {
        for (int i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '.' or '^' or '$' or '?' or '*' or '+' or '|' or '[' or '(' or '{':
                    return true;
                case '\\':
                    i++;
                    break;
            }
        }

        return false;
    }
}
