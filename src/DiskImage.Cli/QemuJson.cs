using System.Globalization;
using System.Text;

namespace DiskImage.Cli;

/// <summary>
/// A JSON object printed the way qemu-img prints its QAPI results: members in the iteration order
/// of QEMU's QDict (a 512-bucket hash table, buckets in ascending order, newest member first
/// within a bucket), so the text matches qemu-img's byte for byte. Values are string, long, bool,
/// <see cref="QemuJsonObject"/> or <see cref="List{T}"/> of those.
/// </summary>
internal sealed class QemuJsonObject
{
    private const uint BucketCount = 512;

    private readonly List<KeyValuePair<string, object>> _members = [];

    public QemuJsonObject Add(string key, object value)
    {
        _members.Add(new(key, value));
        return this;
    }

    /// <summary>The members in the order qemu-img prints them.</summary>
    public IEnumerable<KeyValuePair<string, object>> OrderedMembers()
    {
        var order = new int[_members.Count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        // Stable with respect to bucket; within a bucket the later insertion comes first.
        Array.Sort(order, (a, b) =>
        {
            int c = Bucket(_members[a].Key).CompareTo(Bucket(_members[b].Key));
            return c != 0 ? c : b.CompareTo(a);
        });
        foreach (int i in order)
        {
            yield return _members[i];
        }
    }

    /// <summary>QDict's bucket of <paramref name="key"/> (the tdb hash of the key modulo 512).</summary>
    internal static uint Bucket(string key)
    {
        uint value = unchecked(0x238F13AFu * (uint)Encoding.UTF8.GetByteCount(key));
        int i = 0;
        foreach (byte b in Encoding.UTF8.GetBytes(key))
        {
            value = unchecked(value + ((uint)b << (i * 5 % 24)));
            i++;
        }

        return unchecked((1103515243u * value) + 12345u) % BucketCount;
    }
}

/// <summary>Writes qemu's pretty JSON: four-space indentation, <c>"key": value</c>, and qemu's string escapes.</summary>
internal static class QemuJson
{
    /// <summary>Formats <paramref name="value"/> as qemu-img's pretty JSON (no trailing newline).</summary>
    public static string Format(object value)
    {
        var sb = new StringBuilder();
        Write(sb, value, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object value, int depth)
    {
        switch (value)
        {
            case string s:
                WriteString(sb, s);
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long l:
                sb.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case int n:
                sb.Append(n.ToString(CultureInfo.InvariantCulture));
                break;
            case QemuJsonObject o:
                sb.Append('{');
                bool first = true;
                foreach (KeyValuePair<string, object> member in o.OrderedMembers())
                {
                    sb.Append(first ? "" : ",");
                    first = false;
                    NewLine(sb, depth + 1);
                    WriteString(sb, member.Key);
                    sb.Append(": ");
                    Write(sb, member.Value, depth + 1);
                }

                NewLine(sb, depth);
                sb.Append('}');
                break;
            case List<object> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    sb.Append(i == 0 ? "" : ",");
                    NewLine(sb, depth + 1);
                    Write(sb, list[i], depth + 1);
                }

                NewLine(sb, depth);
                sb.Append(']');
                break;
            default:
                throw new ArgumentException($"Unsupported JSON value type {value.GetType().Name}.", nameof(value));
        }
    }

    private static void NewLine(StringBuilder sb, int depth) => sb.Append('\n').Append(' ', depth * 4);

    /// <summary>qemu's escapes: the short forms for quote, backslash, \b \f \n \r \t; \uXXXX (upper-case hex) for other control characters and everything outside printable ASCII.</summary>
    internal static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c >= 0x7F)
                    {
                        // UTF-16 code units: a supplementary character becomes its surrogate pair, as qemu writes it.
                        sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
