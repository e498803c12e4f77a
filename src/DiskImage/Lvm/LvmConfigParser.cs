using System.Text;

namespace DiskImage.Lvm;

/// <summary>
/// A bounded parser for LVM's config text (libdm config syntax): <c>key = value</c>, <c>name { ... }</c>,
/// strings with <c>\"</c> and <c>\\</c> escapes, integers, floats, arrays, <c>#</c> comments. Input that
/// nests too deep, holds too many values, overflows or is not well formed throws <see cref="InvalidDataException"/>.
/// </summary>
internal ref struct LvmConfigParser
{
    /// <summary>The deepest section nesting accepted (LVM writes five levels).</summary>
    public const int MaxDepth = 32;

    /// <summary>The most values and sections accepted in one text.</summary>
    public const int MaxNodes = 1_000_000;

    private const string Structure = "LVM2 metadata text";

    private readonly ReadOnlySpan<byte> _text;
    private int _pos;
    private int _nodes;

    private LvmConfigParser(ReadOnlySpan<byte> text)
    {
        _text = text;
        _pos = 0;
        _nodes = 0;
    }

    /// <summary>Parses a whole text (a trailing NUL ends it).</summary>
    public static LvmConfigSection Parse(ReadOnlySpan<byte> text)
    {
        int nul = text.IndexOf((byte)0);
        if (nul >= 0)
        {
            text = text[..nul];
        }

        var parser = new LvmConfigParser(text);
        var root = new LvmConfigSection(string.Empty);
        parser.ParseItems(root, 0, topLevel: true);
        return root;
    }

    private void ParseItems(LvmConfigSection section, int depth, bool topLevel)
    {
        while (true)
        {
            SkipSpace();
            if (_pos >= _text.Length)
            {
                if (!topLevel)
                {
                    Fail($"section \"{section.Name}\" is not closed");
                }

                return;
            }

            if (_text[_pos] == '}')
            {
                if (topLevel)
                {
                    Fail("'}' without a section to close");
                }

                _pos++;
                return;
            }

            long keyOffset = _pos;
            string key = ReadKey();
            SkipSpace();
            if (_pos >= _text.Length)
            {
                Fail($"\"{key}\" is not followed by '=' or '{{'");
            }

            CountNode();
            if (_text[_pos] == '{')
            {
                _pos++;
                if (depth + 1 > MaxDepth)
                {
                    Fail($"sections nest deeper than {MaxDepth} levels");
                }

                var child = new LvmConfigSection(key);
                ParseItems(child, depth + 1, topLevel: false);
                section.AddParsed(key, child, keyOffset);
            }
            else if (_text[_pos] == '=')
            {
                _pos++;
                SkipSpace();
                section.AddParsed(key, ReadValue(allowArray: true), keyOffset);
            }
            else
            {
                Fail($"\"{key}\" is not followed by '=' or '{{'");
            }
        }
    }

    private LvmConfigValue ReadValue(bool allowArray)
    {
        if (_pos >= _text.Length)
        {
            Fail("a value is missing");
        }

        byte c = _text[_pos];
        if (c == '"')
        {
            return LvmConfigValue.String(ReadString());
        }

        if (c == '[')
        {
            if (!allowArray)
            {
                Fail("arrays do not nest");
            }

            _pos++;
            var items = new List<LvmConfigValue>();
            SkipSpace();
            if (_pos < _text.Length && _text[_pos] == ']')
            {
                _pos++;
                return LvmConfigValue.Array(items);
            }

            while (true)
            {
                SkipSpace();
                CountNode();
                items.Add(ReadValue(allowArray: false));
                SkipSpace();
                if (_pos >= _text.Length)
                {
                    Fail("an array is not closed");
                }

                if (_text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }

                if (_text[_pos] == ']')
                {
                    _pos++;
                    return LvmConfigValue.Array(items);
                }

                Fail("array items must be separated by ','");
            }
        }

        if (c == '-' || char.IsAsciiDigit((char)c))
        {
            return ReadNumber();
        }

        return Fail<LvmConfigValue>($"unexpected character 0x{c:x2} where a value belongs");
    }

    private LvmConfigValue ReadNumber()
    {
        int start = _pos;
        if (_text[_pos] == '-')
        {
            _pos++;
        }

        int digits = _pos;
        while (_pos < _text.Length && char.IsAsciiDigit((char)_text[_pos]))
        {
            _pos++;
        }

        if (_pos == digits)
        {
            Fail("'-' is not followed by a number");
        }

        bool isFloat = false;
        if (_pos < _text.Length && _text[_pos] == '.')
        {
            isFloat = true;
            _pos++;
            while (_pos < _text.Length && char.IsAsciiDigit((char)_text[_pos]))
            {
                _pos++;
            }
        }

        ReadOnlySpan<byte> token = _text[start.._pos];
        if (isFloat)
        {
            return LvmConfigValue.Float(Encoding.ASCII.GetString(token));
        }

        if (!long.TryParse(token, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long value))
        {
            Fail("an integer does not fit in 64 bits");
        }

        return LvmConfigValue.Int(value);
    }

    private string ReadString()
    {
        _pos++; // opening quote
        int runStart = _pos;
        List<byte>? bytes = null;
        while (true)
        {
            if (_pos >= _text.Length)
            {
                Fail("a string is not closed");
            }

            byte c = _text[_pos];
            if (c == '"')
            {
                break;
            }

            if (c == '\\')
            {
                bytes ??= [];
                AddRange(bytes, _text[runStart.._pos]);
                _pos++;
                if (_pos >= _text.Length)
                {
                    Fail("a string ends in '\\'");
                }

                bytes.Add(_text[_pos]);
                _pos++;
                runStart = _pos;
                continue;
            }

            _pos++;
        }

        string result;
        if (bytes is null)
        {
            result = Encoding.UTF8.GetString(_text[runStart.._pos]);
        }
        else
        {
            AddRange(bytes, _text[runStart.._pos]);
            result = Encoding.UTF8.GetString(bytes.ToArray());
        }

        _pos++; // closing quote
        return result;
    }

    private static void AddRange(List<byte> list, ReadOnlySpan<byte> span)
    {
        foreach (byte b in span)
        {
            list.Add(b);
        }
    }

    private string ReadKey()
    {
        int start = _pos;
        while (_pos < _text.Length && IsKeyCharacter(_text[_pos]))
        {
            _pos++;
        }

        if (_pos == start)
        {
            Fail($"unexpected character 0x{_text[_pos]:x2} where a key belongs");
        }

        return Encoding.ASCII.GetString(_text[start.._pos]);
    }

    private static bool IsKeyCharacter(byte c) =>
        char.IsAsciiLetterOrDigit((char)c) || c is (byte)'_' or (byte)'.' or (byte)'+' or (byte)'-';

    private void SkipSpace()
    {
        while (_pos < _text.Length)
        {
            byte c = _text[_pos];
            if (c == '#')
            {
                int nl = _text[_pos..].IndexOf((byte)'\n');
                _pos = nl < 0 ? _text.Length : _pos + nl + 1;
            }
            else if (c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f' or (byte)'\v')
            {
                _pos++;
            }
            else
            {
                return;
            }
        }
    }

    private void CountNode()
    {
        if (++_nodes > MaxNodes)
        {
            Fail($"more than {MaxNodes} values");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private readonly void Fail(string message) => FormatError.Throw(Structure, _pos, message);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private readonly T Fail<T>(string message) => FormatError.Throw<T>(Structure, _pos, message);
}
