namespace DiskImage.Customization;

/// <summary>How <see cref="Customizer"/> applies a <see cref="CustomizeScript"/>.</summary>
public sealed class CustomizeOptions
{
    /// <summary>The defaults: apply for real, hash passwords with the guest's default algorithm.</summary>
    public static CustomizeOptions Default { get; } = new();

    /// <summary>Check every operation and report what would change, without writing (virt-customize <c>--dry-run</c>).</summary>
    public bool DryRun { get; init; }

    /// <summary>
    /// The password hash (virt-customize <c>--password-crypto</c>): null for the guest's default (see
    /// <see cref="PasswordHashing"/>), "sha512" or "yescrypt". Others are refused.
    /// </summary>
    public string? PasswordCrypto { get; init; }

    /// <summary>Rounds for SHA-512-crypt; null for the default 5000 without a <c>rounds=</c> field.</summary>
    public int? PasswordRounds { get; init; }

    /// <summary>Where the key of a bare <c>--ssh-inject USER</c> comes from: the invoking user's home directory by default.</summary>
    public string? HostHomeDirectory { get; init; }

    /// <summary>
    /// Writes the parts of a run that virt-customize does before the operations: a new random seed in the
    /// guest's seed file and a machine-id in an empty <c>/etc/machine-id</c>. True by default.
    /// </summary>
    public bool RefreshRandomSeedAndMachineId { get; init; } = true;

    /// <summary>
    /// Gives every entry the customization creates or replaces the <c>security.selinux</c> label the guest's own
    /// policy assigns (<see cref="Security.SelinuxPolicy"/>), when the guest uses SELinux (a policy in
    /// <c>/etc/selinux/config</c> that is not disabled) — what virt-customize's relabel does, without a relabel
    /// at boot. The policy is read before the first write, so an unreadable policy changes nothing. True by default.
    /// </summary>
    public bool SelinuxLabels { get; init; } = true;
}
