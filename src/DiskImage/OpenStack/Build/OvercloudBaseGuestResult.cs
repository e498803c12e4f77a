namespace DiskImage.OpenStack.Build;

/// <summary>The base guest <see cref="OvercloudBaseGuest.CreateAsync"/> wrote, and what it is made of.</summary>
public sealed class OvercloudBaseGuestResult
{
    /// <summary>The qcow2 file written.</summary>
    public required string Path { get; init; }

    /// <summary>Where the root tree came from: the source directory, or <c>generated</c>.</summary>
    public required string Source { get; init; }

    /// <summary>The kernel version in the guest's <c>/boot</c>.</summary>
    public required string KernelVersion { get; init; }

    /// <summary>One line per thing added to the tree and where it came from (host file, busybox applet, placeholder).</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>
    /// The guest paths of placeholder files: stand-ins (not working programs, not a bootable kernel) for what neither
    /// the tree nor the host provided. Empty when everything is real.
    /// </summary>
    public required IReadOnlyList<string> Placeholders { get; init; }
}
