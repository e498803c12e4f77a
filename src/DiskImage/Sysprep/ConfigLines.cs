using System.Text;

namespace DiskImage.Sysprep;

/// <summary>
/// Line editing of configuration files as libguestfs does it (<c>read_lines</c>, filter, join with '\n' plus a final
/// '\n'). Bytes go through Latin-1 so content that is not UTF-8 is kept exactly.
/// </summary>
internal static class ConfigLines
{
    /// <summary>Splits on '\n', dropping a '\r' before it; a final '\n' ends the last line (no empty line after it).</summary>
    public static List<string> Split(byte[] content)
    {
        string text = Encoding.Latin1.GetString(content);
        var lines = new List<string>();
        int start = 0;
        while (start < text.Length)
        {
            int nl = text.IndexOf('\n', start);
            int end = nl < 0 ? text.Length : nl;
            int stop = end > start && text[end - 1] == '\r' ? end - 1 : end;
            lines.Add(text[start..stop]);
            if (nl < 0)
            {
                break;
            }

            start = nl + 1;
        }

        return lines;
    }

    /// <summary>Joins with '\n' and adds one final '\n' (so no lines at all give "\n").</summary>
    public static byte[] Join(List<string> lines) => Encoding.Latin1.GetBytes(string.Join('\n', lines) + "\n");
}
