using System.Globalization;
using System.Text;

namespace DiskImage.Lvm;

/// <summary>Writes config text as LVM writes metadata: unindented, one <c>key = value</c> per line, strings escaped.</summary>
internal static class LvmConfigWriter
{
    /// <summary>Appends the entries of <paramref name="section"/> (not its own name).</summary>
    public static void WriteEntries(StringBuilder sb, LvmConfigSection section)
    {
        foreach (KeyValuePair<string, object> e in section.Entries)
        {
            if (e.Value is LvmConfigSection child)
            {
                sb.Append('\n').Append(e.Key).Append(" {\n");
                WriteEntries(sb, child);
                sb.Append("}\n");
            }
            else
            {
                sb.Append(e.Key).Append(" = ");
                WriteValue(sb, (LvmConfigValue)e.Value, e.Key == "stripes" || e.Key == "areas");
                sb.Append('\n');
            }
        }
    }

    private static void WriteValue(StringBuilder sb, LvmConfigValue value, bool pairsPerLine)
    {
        switch (value.Kind)
        {
            case LvmConfigValueKind.String:
                WriteString(sb, value.Text!);
                break;
            case LvmConfigValueKind.Integer:
                sb.Append(value.Integer.ToString(CultureInfo.InvariantCulture));
                break;
            case LvmConfigValueKind.Float:
                sb.Append(value.Text);
                break;
            default:
                List<LvmConfigValue> items = value.Items!;
                if (pairsPerLine && items.Count > 0)
                {
                    // LVM lists segment areas one "pvN", start pair per line.
                    sb.Append("[\n");
                    for (int i = 0; i < items.Count; i++)
                    {
                        WriteValue(sb, items[i], false);
                        sb.Append(i == items.Count - 1 ? "\n" : (i % 2 == 0 ? ", " : ",\n"));
                    }

                    sb.Append(']');
                    break;
                }

                sb.Append('[');
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    WriteValue(sb, items[i], false);
                }

                sb.Append(']');
                break;
        }
    }

    /// <summary>A quoted string with <c>"</c> and <c>\</c> escaped.</summary>
    public static void WriteString(StringBuilder sb, string text)
    {
        sb.Append('"');
        foreach (char c in text)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        sb.Append('"');
    }
}
