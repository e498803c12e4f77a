namespace DiskImage.Formats;

/// <summary>What <c>qemu-img info</c> reports about an image; the CLI prints it in qemu-img's JSON shape.</summary>
public sealed record ImageInfo
{
    /// <summary>The image's file name as given when opened (qemu's <c>filename</c>).</summary>
    public required string FileName { get; init; }

    /// <summary>The container format.</summary>
    public required DiskImageFormat Format { get; init; }

    /// <summary>Guest-visible size in bytes (<c>virtual-size</c>).</summary>
    public required long VirtualSize { get; init; }

    /// <summary>Bytes the image file occupies on the host (<c>actual-size</c>), or -1 when unknown.</summary>
    public long ActualSize { get; init; } = -1;

    /// <summary>Cluster size in bytes (<c>cluster-size</c>), for formats that have clusters.</summary>
    public int? ClusterSize { get; init; }

    /// <summary>Whether the image was not cleanly closed (<c>dirty-flag</c>).</summary>
    public bool DirtyFlag { get; init; }

    /// <summary>Backing file name as stored in the image (<c>backing-filename</c>).</summary>
    public string? BackingFileName { get; init; }

    /// <summary>Backing file name resolved against the image's directory (<c>full-backing-filename</c>).</summary>
    public string? FullBackingFileName { get; init; }

    /// <summary>Backing file format as stored in the image (<c>backing-filename-format</c>).</summary>
    public string? BackingFileFormat { get; init; }

    /// <summary>Whether the image is encrypted.</summary>
    public bool Encrypted { get; init; }

    /// <summary>Internal snapshots, in table order.</summary>
    public IReadOnlyList<Qcow2.Qcow2Snapshot> Snapshots { get; init; } = [];

    /// <summary>qcow2-specific details (<c>format-specific.data</c>), or <see langword="null"/> for other formats.</summary>
    public Qcow2.Qcow2FormatInfo? Qcow2 { get; init; }

    /// <summary>The LUKS header of a raw LUKS image (<c>format-specific.data</c>), or <see langword="null"/> for other formats.</summary>
    public Luks.LuksFormatInfo? Luks { get; init; }

    /// <summary>A one-line summary: file, format, virtual size, cluster size, snapshots and backing file when present.</summary>
    public override string ToString()
    {
        var text = new System.Text.StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{FileName}: {Format.ToString().ToLowerInvariant()}, {VirtualSize} bytes");
        if (ClusterSize is { } cluster)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $", cluster {cluster}");
        }

        if (Snapshots.Count > 0)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $", {Snapshots.Count} snapshot{(Snapshots.Count == 1 ? string.Empty : "s")}");
        }

        if (BackingFileName is { } backing)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $", backing '{backing}'");
        }

        if (DirtyFlag)
        {
            text.Append(", dirty");
        }

        return text.ToString();
    }
}
