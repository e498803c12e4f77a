using System.Text;

namespace DiskImage.Cli;

/// <summary>
/// A qemu-img <c>-o</c> list: <c>key=value,key=value</c>, where <c>,,</c> stands for a literal comma
/// inside a value and a key without <c>=</c> means "on" (qemu's QemuOpts syntax). Several <c>-o</c>
/// options accumulate; a later key overrides an earlier one.
/// </summary>
internal sealed class QemuOptionList
{
    private readonly List<KeyValuePair<string, string>> _items = [];

    /// <summary>Whether "help" or "?" was asked for.</summary>
    public bool HelpRequested { get; private set; }

    /// <summary>Options in the order given (a repeated key keeps its first position and last value).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Items => _items;

    /// <summary>Adds the options in one <c>-o</c> argument.</summary>
    /// <exception cref="CliException">An empty key.</exception>
    public void Add(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            string key = ReadPart(text, ref i, stopAtEquals: true);
            string value = "on";
            if (i < text.Length && text[i] == '=')
            {
                i++;
                value = ReadPart(text, ref i, stopAtEquals: false);
            }

            if (i < text.Length && text[i] == ',')
            {
                i++;
            }

            if (key is "help" or "?")
            {
                HelpRequested = true;
                continue;
            }

            if (key.Length == 0)
            {
                throw new CliException("Invalid option list: empty parameter name");
            }

            Set(key, value);
        }
    }

    /// <summary>Gets the value of <paramref name="key"/>, or null.</summary>
    public string? Get(string key)
    {
        foreach (KeyValuePair<string, string> item in _items)
        {
            if (item.Key == key)
            {
                return item.Value;
            }
        }

        return null;
    }

    /// <summary>Sets <paramref name="key"/> (used for -b/-F, which qemu-img folds into the option list).</summary>
    public void Set(string key, string value)
    {
        for (int j = 0; j < _items.Count; j++)
        {
            if (_items[j].Key == key)
            {
                _items[j] = new(key, value);
                return;
            }
        }

        _items.Add(new(key, value));
    }

    // Reads up to an unescaped ',' (and '=' for keys); ",," is a literal comma.
    private static string ReadPart(string text, ref int i, bool stopAtEquals)
    {
        var sb = new StringBuilder();
        while (i < text.Length)
        {
            char c = text[i];
            if (c == ',')
            {
                if (i + 1 < text.Length && text[i + 1] == ',')
                {
                    sb.Append(',');
                    i += 2;
                    continue;
                }

                break;
            }

            if (stopAtEquals && c == '=')
            {
                break;
            }

            sb.Append(c);
            i++;
        }

        return sb.ToString();
    }
}
