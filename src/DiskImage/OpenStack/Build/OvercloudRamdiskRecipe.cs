namespace DiskImage.OpenStack.Build;

/// <summary>The <c>ramdisk:</c> section of a ramdisk image: what its initramfs takes from the guest.</summary>
public sealed class OvercloudRamdiskRecipe
{
    /// <summary>Guest programs to include (absolute paths or names looked up in the guest's <c>PATH</c> directories), with their shared libraries.</summary>
    public IReadOnlyList<string> Binaries { get; init; } = [];

    /// <summary>Kernel modules to include by name, with their dependencies.</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];

    /// <summary>Other guest files or directories to include as they are.</summary>
    public IReadOnlyList<string> Files { get; init; } = [];

    /// <summary>The text of <c>/init</c>, or null for the builder's default.</summary>
    public string? Init { get; init; }

    /// <summary>The initramfs compression (<c>gzip</c>, <c>zstd</c>, ...). Default <c>gzip</c>, as the TripleO ramdisks.</summary>
    public string Compression { get; init; } = "gzip";
}
