using System.Globalization;
using System.Text;

namespace DiskImage.Customization;

/// <summary>Reads <c>/etc/passwd</c> (7 fields a line) and checks the shape of <c>/etc/shadow</c> (9 fields a line).</summary>
internal static class GuestAccounts
{
    public const string PasswdPath = "/etc/passwd";
    public const string ShadowPath = "/etc/shadow";

    /// <summary>The passwd entry of <paramref name="user"/>; malformed lines and a missing user are errors naming the operation.</summary>
    public static GuestAccount Find(GuestTree t, string user)
    {
        string path = t.Resolve(PasswdPath);
        if (t.Stat(path) is null)
        {
            throw t.Error($"the image has no {PasswdPath}");
        }

        string text = Decode(t, path);
        int lineNumber = 0;
        foreach (string line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '+' || line[0] == '-')
            {
                continue;
            }

            string[] f = line.Split(':');
            if (f.Length != 7
                || !uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid)
                || !uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out uint gid))
            {
                throw t.Error($"{PasswdPath} line {lineNumber} is malformed (expected name:password:uid:gid:gecos:home:shell)");
            }

            if (f[0] == user)
            {
                return new GuestAccount(f[0], uid, gid, f[5]);
            }
        }

        throw t.Error($"the user '{user}' does not exist in {PasswdPath}");
    }

    /// <summary>Splits the shadow file into lines and checks each has 9 fields.</summary>
    public static string[] ReadShadow(GuestTree t, string canonical)
    {
        string text = Decode(t, canonical);
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 && i == lines.Length - 1)
            {
                continue;
            }

            if (line.Length == 0 || line.Split(':').Length != 9)
            {
                throw t.Error($"{ShadowPath} line {i + 1} is malformed (expected 9 ':'-separated fields)");
            }
        }

        return lines;
    }

    private static string Decode(GuestTree t, string canonical)
    {
        byte[] bytes = t.ReadAllBytes(canonical);
        if (!TextFile.IsText(bytes))
        {
            throw t.Error($"'{canonical}' is not a text file");
        }

        return Encoding.UTF8.GetString(bytes);
    }
}
