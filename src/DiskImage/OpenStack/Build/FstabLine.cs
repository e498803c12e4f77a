namespace DiskImage.OpenStack.Build;

/// <summary>
/// One line of an <c>/etc/fstab</c>, as the fstab rewriters read it: the line without its line end, its fields
/// (null for blank and comment lines) and its mount point with <c>\040</c> decoded and trailing slashes removed.
/// </summary>
internal readonly record struct FstabLine(string Text, string[]? Fields, string MountPoint)
{
    /// <summary>The lines of <paramref name="text"/> (none when it is null); a final empty line is not a line.</summary>
    public static IEnumerable<FstabLine> Parse(string? text)
    {
        if (text is null)
        {
            yield break;
        }

        string[] lines = text.Split('\n');
        int count = lines.Length;
        if (count > 0 && lines[^1].Length == 0)
        {
            count--;
        }

        for (int i = 0; i < count; i++)
        {
            string line = lines[i].TrimEnd('\r');
            string trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                yield return new FstabLine(line, null, string.Empty);
                continue;
            }

            string[] f = trimmed.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            yield return new FstabLine(line, f, f.Length > 1 ? NormalizeMountPoint(f[1]) : string.Empty);
        }
    }

    /// <summary>A mount point as fstab spells it (<c>\040</c> for a space, trailing slashes) in its plain form.</summary>
    public static string NormalizeMountPoint(string mountPoint)
    {
        string m = mountPoint.Replace("\\040", " ", StringComparison.Ordinal);
        while (m.Length > 1 && m.EndsWith('/'))
        {
            m = m[..^1];
        }

        return m;
    }
}
