namespace DiskImage.Customization;

/// <summary>
/// <c>--timezone TZ</c>: requires <c>/usr/share/zoneinfo/TZ</c> in the guest and makes <c>/etc/localtime</c> an
/// absolute symbolic link to it (<c>/etc/timezone</c> is not written, as in virt-customize).
/// </summary>
internal sealed class TimezoneOperation : CustomizeOperation
{
    public TimezoneOperation(string argument)
        : base("timezone", argument)
    {
        if (argument.Length == 0 || argument[0] == '/' || argument.Split('/').Contains(".."))
        {
            throw new CustomizationException(ToString(), "expected a time zone name like Europe/London");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string zone = "/usr/share/zoneinfo/" + Argument;
        if (t.StatPath(zone) is not { Type: FileSystems.UnixFileType.RegularFile })
        {
            throw t.Error($"the time zone '{Argument}' does not exist in the image ({zone} is missing)");
        }

        t.CreateSymbolicLink(t.Resolve("/etc/localtime", followFinal: false), zone);
    }
}
