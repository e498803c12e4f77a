namespace DiskImage.Sysprep;

/// <summary>
/// What the <c>machine-id</c> operation leaves in <c>/etc/machine-id</c> (see machine-id(5), "First boot
/// semantics"). It is applied after every other operation, so nothing refills it afterwards.
/// </summary>
public enum MachineIdPolicy
{
    /// <summary>
    /// Truncate <c>/etc/machine-id</c> and <c>/var/lib/dbus/machine-id</c> to 0 bytes (what the virt-sysprep
    /// operation itself does): systemd makes a new ID at boot, but does not treat it as a first boot.
    /// </summary>
    Empty,

    /// <summary>
    /// Write <c>uninitialized\n</c> into <c>/etc/machine-id</c> (as <c>cloud-init clean --machine-id</c> and
    /// diskimage-builder do): a new ID and <c>ConditionFirstBoot=yes</c> at the next boot (systemd 247 and later).
    /// <c>/var/lib/dbus/machine-id</c>, when it is a regular file, is truncated (D-Bus then reads /etc/machine-id).
    /// </summary>
    Uninitialized,

    /// <summary>Leave both files as they are (the same as not selecting the operation).</summary>
    Keep,
}
