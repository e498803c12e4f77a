namespace DiskImage.OpenStack.Build;

/// <summary>What <see cref="OvercloudBuilder.BuildAsync"/> builds, from what, and where.</summary>
public sealed class OvercloudBuildOptions
{
    /// <summary>The defaults; <see cref="BaseImage"/> must still be given for a build.</summary>
    public static OvercloudBuildOptions Default { get; } = new();

    /// <summary>The base guest image (qcow2 or raw, detected). It is opened read-only and never changed. Required: a build without it throws <see cref="ArgumentException"/>.</summary>
    public string BaseImage { get; init; } = string.Empty;

    /// <summary>The directory the files and the manifest are written to (created when missing). Default: the current directory.</summary>
    public string OutputDirectory { get; init; } = ".";

    /// <summary>The images to build, by name; empty for every image of the recipe (<c>--all</c>).</summary>
    public IReadOnlyList<string> Images { get; init; } = [];

    /// <summary>
    /// The <c>SOURCE_DATE_EPOCH</c> (seconds since 1970): timestamps in the outputs later than it are clamped to it,
    /// and changes made by the build are stamped with it, so the same inputs give byte-identical files. Null: the
    /// current time is used and outputs differ between runs in their timestamps.
    /// </summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Rebuild every selected image even when its files are current.</summary>
    public bool Force { get; init; }

    /// <summary>Where the scratch overlay of the base guest lives; null for the system's temporary directory.</summary>
    public string? TemporaryDirectory { get; init; }
}
