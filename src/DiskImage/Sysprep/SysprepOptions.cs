namespace DiskImage.Sysprep;

/// <summary>What <see cref="SysprepRunner.Run"/> does: which operations, the machine-id policy, dry run.</summary>
public sealed class SysprepOptions
{
    /// <summary>The default operations, an empty machine-id, no dry run.</summary>
    public static SysprepOptions Default { get; } = new();

    /// <summary>The operations to run; null for <see cref="SysprepSelection.Defaults"/> (virt-sysprep's default set).</summary>
    public SysprepSelection? Operations { get; init; }

    /// <summary>What the <c>machine-id</c> operation leaves behind (default <see cref="MachineIdPolicy.Empty"/>, as virt-sysprep's operation).</summary>
    public MachineIdPolicy MachineId { get; init; } = MachineIdPolicy.Empty;

    /// <summary>Report every change without writing anything.</summary>
    public bool DryRun { get; init; }

    /// <summary>
    /// For <c>user-account</c>: the only users to remove (virt-sysprep's <c>--remove-user-accounts</c>); empty
    /// removes every account in the <c>UID_MIN</c>–<c>UID_MAX</c> range of <c>/etc/login.defs</c>.
    /// </summary>
    public IReadOnlyCollection<string> RemoveUserAccounts { get; init; } = [];

    /// <summary>For <c>user-account</c>: users never removed (virt-sysprep's <c>--keep-user-accounts</c>).</summary>
    public IReadOnlyCollection<string> KeepUserAccounts { get; init; } = [];

    /// <summary>The guest's identity; null to read it from the file system's <c>/etc/os-release</c>.</summary>
    public SysprepGuest? Guest { get; init; }

    /// <summary>
    /// Gives every entry the sysprep creates (<see cref="SysprepResult.CreatedPaths"/>) the <c>security.selinux</c>
    /// label of the guest's own policy when the guest uses SELinux (files rewritten in place keep theirs). The
    /// policy is read before the first write. True by default.
    /// </summary>
    public bool SelinuxLabels { get; init; } = true;
}
