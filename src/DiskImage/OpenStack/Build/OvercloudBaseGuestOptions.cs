namespace DiskImage.OpenStack.Build;

/// <summary>What <see cref="OvercloudBaseGuest.CreateAsync"/> makes a base guest from.</summary>
public sealed class OvercloudBaseGuestOptions
{
    /// <summary>The defaults: a minimal generated tree, the host's kernel, the default recipe.</summary>
    public static OvercloudBaseGuestOptions Default { get; } = new();

    /// <summary>
    /// A host directory holding a guest's root tree (e.g. one made by <c>debootstrap</c>) that becomes the root file
    /// system; null for a minimal generated tree.
    /// </summary>
    public string? SourceTree { get; init; }

    /// <summary>
    /// The host root the kernel, initrd, kernel modules and a static busybox are taken from when the tree lacks them
    /// (<c>/boot/vmlinuz-*</c> with its initrd, <c>/lib/modules/VERSION</c>, <c>/usr/bin/busybox</c>); null takes
    /// nothing from the host, so placeholders are generated instead. Default <c>/</c>.
    /// </summary>
    public string? HostRoot { get; init; } = "/";

    /// <summary>The recipe whose ramdisk programs and kernel modules the guest must provide; null for <see cref="OvercloudRecipe.Default"/>.</summary>
    public OvercloudRecipe? Recipe { get; init; }

    /// <summary>The time given to generated files and the file system, and the latest time any file keeps (later ones are clamped to it), in seconds since 1970; null for 0. The same inputs give the same image.</summary>
    public long? SourceDateEpoch { get; init; }
}
