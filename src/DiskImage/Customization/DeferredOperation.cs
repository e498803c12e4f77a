using System.Text;

namespace DiskImage.Customization;

/// <summary>
/// <c>--run SCRIPT</c>, <c>--run-command CMD</c>, <c>--install PKGS</c>, <c>--uninstall PKGS</c>, <c>--update</c>:
/// virt-customize runs these inside the guest; no guest code runs here, so each becomes a first-boot script
/// (same layout as <c>--firstboot</c>) and a note in the result saying so.
/// </summary>
internal sealed class DeferredOperation : CustomizeOperation
{
    public DeferredOperation(string option, string? argument)
        : base(option, argument)
    {
        if (option != "update" && string.IsNullOrEmpty(argument))
        {
            throw new CustomizationException(ToString(), "the argument is empty");
        }
    }

    public override void Apply(CustomizeContext context)
    {
        GuestTree t = context.Tree;
        string arg = Argument ?? string.Empty;
        (string name, string body) = Option switch
        {
            "run" => (arg, Encoding.UTF8.GetString(HostPath.ReadAllBytes(t, HostPath.Full(t, arg)))),
            "run-command" => (arg, "#!/bin/sh\n" + arg + "\n"),
            "install" => ("install " + arg, "#!/bin/sh\n" + PackageCommands.Install(context, arg.Replace(',', ' ')) + "\n"),
            "uninstall" => ("uninstall " + arg, "#!/bin/sh\n" + PackageCommands.Uninstall(context, arg.Replace(',', ' ')) + "\n"),
            _ => ("update", "#!/bin/sh\n" + PackageCommands.Update(context) + "\n"),
        };
        string path = Firstboot.Add(context, name, body);
        context.Notes.Add($"{this}: deferred to the guest's first boot as {path} (no guest code runs during customization)");
    }
}
