namespace DiskImage.OpenStack.Build;

/// <summary>One file of a build and what was done with it.</summary>
public sealed class OvercloudBuildOutput
{
    /// <summary>The recipe image the file belongs to (<c>overcloud-full</c>).</summary>
    public required string Image { get; init; }

    /// <summary>The file name in the output directory (<c>overcloud-full.qcow2</c>).</summary>
    public required string File { get; init; }

    /// <summary>The file's full path.</summary>
    public required string Path { get; init; }

    /// <summary>What the file is: <c>qcow2</c>, <c>raw</c>, <c>kernel</c>, <c>initrd</c> or <c>initramfs</c>.</summary>
    public required string Format { get; init; }

    /// <summary>What was done.</summary>
    public required OvercloudBuildAction Action { get; init; }

    /// <summary>The file's SHA-256 (lower-case hex); null when skipped.</summary>
    public string? Sha256 { get; init; }

    /// <summary>The file's size in bytes; 0 when skipped.</summary>
    public long Size { get; init; }

    /// <summary>Why the file was skipped, otherwise null.</summary>
    public string? Message { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{File} {Action} {Size} {Sha256}";
}
