using System.Globalization;
using DiskImage.FileSystems;

namespace DiskImage.Customization;

/// <summary>
/// <c>--chmod PERMISSIONS:FILE</c>: sets the permission bits (a final symbolic link is followed). As in
/// virt-customize, PERMISSIONS is octal only when it starts with 0 ("0644"); otherwise it is decimal.
/// </summary>
internal sealed class ChmodOperation : CustomizeOperation
{
    private readonly int _mode;
    private readonly string _path;

    public ChmodOperation(string argument)
        : base("chmod", argument)
    {
        (string perms, _path) = SplitPair("PERMISSIONS:FILE");
        _mode = ParseMode(perms) ?? throw new CustomizationException(ToString(), $"'{perms}' is not a mode (octal with a leading 0, like 0644)");
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string path = t.Resolve(_path);
        if (t.Stat(path) is null)
        {
            throw t.Error($"'{path}' does not exist", new FileNotFoundException(path));
        }

        t.SetMode(path, UnixFileModeBits.FromBits(_mode));
    }

    private static int? ParseMode(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }

        int value = 0;
        if (text[0] == '0')
        {
            foreach (char c in text)
            {
                if (c is < '0' or > '7' || value > 0xFFF)
                {
                    return null;
                }

                value = (value * 8) + (c - '0');
            }
        }
        else if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            return null;
        }

        return value is >= 0 and <= 0xFFF ? value : null;
    }
}
