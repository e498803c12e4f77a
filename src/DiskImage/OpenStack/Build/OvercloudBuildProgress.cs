namespace DiskImage.OpenStack.Build;

/// <summary>A step of a running build, for progress display.</summary>
public sealed class OvercloudBuildProgress
{
    /// <summary>The recipe image being worked on, or null for steps on the whole guest (hashing, customizing).</summary>
    public string? Image { get; init; }

    /// <summary>The file being written, or null.</summary>
    public string? File { get; init; }

    /// <summary>A one-line description (<c>building the xfs file system</c>).</summary>
    public required string Message { get; init; }

    /// <inheritdoc />
    public override string ToString() => File is null ? Message : $"{File}: {Message}";
}
