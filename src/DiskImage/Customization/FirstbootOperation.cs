using System.Text;

namespace DiskImage.Customization;

/// <summary>
/// <c>--firstboot SCRIPT</c> (a host script), <c>--firstboot-command CMD</c> and <c>--firstboot-install PKGS</c>:
/// queue work for the guest's first boot (see <see cref="Firstboot"/>).
/// </summary>
internal sealed class FirstbootOperation : CustomizeOperation
{
    public FirstbootOperation(string option, string argument)
        : base(option, argument)
    {
        if (argument.Length == 0)
        {
            throw new CustomizationException(ToString(), "the argument is empty");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string arg = Argument!;
        switch (Option)
        {
            case "firstboot":
                string host = HostPath.Full(t, arg);
                Firstboot.Add(context, arg, Encoding.UTF8.GetString(HostPath.ReadAllBytes(t, host)));
                break;
            case "firstboot-command":
                Firstboot.Add(context, arg, arg); // virt-customize stores the command as given, without a #! line
                break;
            default:
                string command = PackageCommands.Install(context, arg.Replace(',', ' '));
                Firstboot.Add(context, "install " + arg, "#!/bin/sh\n" + command + "\n");
                break;
        }
    }
}
