using System.Globalization;

namespace DiskImage.Lvm;

/// <summary>A value in LVM's config text: a string, an integer, a float (kept as written) or an array of values.</summary>
internal sealed class LvmConfigValue
{
    private LvmConfigValue(LvmConfigValueKind kind, string? text, long integer, List<LvmConfigValue>? items)
    {
        Kind = kind;
        Text = text;
        Integer = integer;
        Items = items;
    }

    public LvmConfigValueKind Kind { get; }

    /// <summary>The string, or a float as written.</summary>
    public string? Text { get; }

    public long Integer { get; }

    public List<LvmConfigValue>? Items { get; }

    public static LvmConfigValue String(string text) => new(LvmConfigValueKind.String, text, 0, null);

    public static LvmConfigValue Int(long value) => new(LvmConfigValueKind.Integer, null, value, null);

    public static LvmConfigValue Float(string text) => new(LvmConfigValueKind.Float, text, 0, null);

    public static LvmConfigValue Array(List<LvmConfigValue> items) => new(LvmConfigValueKind.Array, null, 0, items);

    /// <summary>An array of strings.</summary>
    public static LvmConfigValue StringArray(IEnumerable<string> items)
    {
        var list = new List<LvmConfigValue>();
        foreach (string s in items)
        {
            list.Add(String(s));
        }

        return Array(list);
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        LvmConfigValueKind.Integer => Integer.ToString(CultureInfo.InvariantCulture),
        LvmConfigValueKind.Array => "[" + string.Join(", ", Items!) + "]",
        LvmConfigValueKind.String => "\"" + Text + "\"",
        _ => Text!,
    };
}
