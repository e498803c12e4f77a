using System.Text;

namespace DiskImage.Sysprep.Operations;

/// <summary>
/// <c>machine-id</c>: applies the <see cref="MachineIdPolicy"/> to <c>/etc/machine-id</c> and
/// <c>/var/lib/dbus/machine-id</c>, each only when it is a regular file (a symbolic link is left alone) and in
/// place (mode, owner and SELinux label kept). The runner applies it after every other operation. Boot loader
/// entries and rescue images named after the old ID get a placeholder ID instead (<see cref="BootLoaderEntries"/>).
/// </summary>
internal sealed class MachineIdOperation : SysprepOperation
{
    private static readonly byte[] Uninitialized = Encoding.ASCII.GetBytes("uninitialized\n");

    public MachineIdOperation()
        : base("machine-id", "Reset the machine ID (/etc/machine-id, /var/lib/dbus/machine-id): empty, 'uninitialized' or kept, applied last", enabledByDefault: true, isExtra: false)
    {
    }

    internal override void Apply(SysprepContext context)
    {
        MachineIdPolicy policy = context.Options.MachineId;
        if (policy == MachineIdPolicy.Keep)
        {
            return;
        }

        byte[]? oldId = context.IsRegularFile("/etc/machine-id") ? context.ReadFile("/etc/machine-id") : null;
        if (oldId is not null)
        {
            context.Rewrite("/etc/machine-id", policy == MachineIdPolicy.Uninitialized ? Uninitialized : []);
        }

        if (context.IsRegularFile("/var/lib/dbus/machine-id"))
        {
            context.Rewrite("/var/lib/dbus/machine-id", []);
        }

        if (BootLoaderEntries.FindId(context, oldId) is { } id)
        {
            BootLoaderEntries.Apply(context, id);
        }
    }
}
