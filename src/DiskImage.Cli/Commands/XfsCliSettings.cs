using System.Globalization;
using DiskImage.FileSystems.Xfs;

namespace DiskImage.Cli.Commands;

/// <summary>
/// The options <c>mkfs xfs</c> and <c>make-fs --type xfs</c> accept, in mkfs.xfs spelling where it differs:
/// <c>-b size=N</c> (or <c>-b N</c>), <c>-i size=N</c> (or <c>-I N</c>), <c>-d agcount=N</c>, <c>-l size=N</c> (blocks),
/// <c>-L label</c>, <c>-U uuid</c> (or <c>-m uuid=U</c>), <c>-T profile</c> (debian12, rhel7, rhel8, rhel9).
/// </summary>
internal sealed class XfsCliSettings
{
    private XfsFormatProfile _profile = XfsFormatProfile.Debian12;
    private int _blockSize = 4096;
    private int _inodeSize = 512;
    private int? _agCount;
    private int? _logBlocks;
    private Guid? _uuid;
    private string _label = string.Empty;

    /// <summary>Applies one option.</summary>
    public void Apply(int option, string value)
    {
        switch (option)
        {
            case 'b':
                _blockSize = ParseInt(Suboption(value, "size"), "block size") is var b && b is 1024 or 2048 or 4096
                    ? b
                    : throw new CliException($"invalid block size '{value}' (use 1024, 2048 or 4096)");
                break;
            case 'I' or 'i':
                _inodeSize = ParseInt(Suboption(value, "size"), "inode size") is var i && i is 512 or 1024 or 2048
                    ? i
                    : throw new CliException($"invalid inode size '{value}' (use 512, 1024 or 2048)");
                break;
            case 'd':
                _agCount = ParseInt(Suboption(value, "agcount"), "allocation group count") is var a && a >= 2
                    ? a
                    : throw new CliException($"invalid allocation group count '{value}' (at least 2)");
                break;
            case 'l':
                _logBlocks = ParseInt(Suboption(value, "size"), "log size in blocks");
                break;
            case 'L':
                if (System.Text.Encoding.UTF8.GetByteCount(value) > 12)
                {
                    throw new CliException($"label '{value}' is too long (at most 12 bytes)");
                }

                _label = value;
                break;
            case 'U' or 'm':
                string u = option == 'm' ? Suboption(value, "uuid") : value;
                _uuid = u switch
                {
                    "random" => Guid.NewGuid(),
                    _ => Guid.TryParse(u, out Guid g) ? g : throw new CliException($"invalid UUID '{u}'"),
                };
                break;
            case 'T':
                _profile = value switch
                {
                    "debian12" or "debian" or "default" or "xfs" => XfsFormatProfile.Debian12,
                    "rhel9" => XfsFormatProfile.Rhel9,
                    "rhel8" => XfsFormatProfile.Rhel8,
                    "rhel7" => XfsFormatProfile.Rhel7,
                    "upstream" => XfsFormatProfile.Upstream,
                    _ => throw new CliException($"unknown profile '{value}' (use debian12, rhel9, rhel8, rhel7 or upstream)"),
                };
                break;
            default:
                throw new CliException($"option -{(char)option} is not supported for xfs");
        }
    }

    /// <summary>The format options; the time comes from <c>SOURCE_DATE_EPOCH</c> when it is set.</summary>
    public XfsFormatOptions Build() => new()
    {
        Profile = _profile,
        BlockSize = _blockSize,
        InodeSize = _inodeSize,
        AgCount = _agCount,
        LogBlocks = _logBlocks,
        Uuid = _uuid,
        Label = _label,
        Timestamp = SourceDateEpoch(),
    };

    private static string Suboption(string value, string name)
    {
        int eq = value.IndexOf('=', StringComparison.Ordinal);
        if (eq < 0)
        {
            return value;
        }

        return value[..eq] == name ? value[(eq + 1)..] : throw new CliException($"invalid option value '{value}' (only {name}=N is supported)");
    }

    private static int ParseInt(string value, string what) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed)
            ? parsed
            : throw new CliException($"invalid {what} '{value}'");

    private static DateTimeOffset? SourceDateEpoch()
    {
        string? text = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds) && seconds <= uint.MaxValue
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : throw new CliException($"SOURCE_DATE_EPOCH '{text}' is not a number of seconds (0 to 4294967295)");
    }
}
