namespace DiskImage.OpenStack;

/// <summary>One image or file the upload handled.</summary>
public sealed class OvercloudUploadEntry
{
    /// <summary>The Glance name, or the destination file name for an HTTP boot copy.</summary>
    public required string Name { get; init; }

    /// <summary>The local file's path.</summary>
    public required string File { get; init; }

    /// <summary>What was done.</summary>
    public required OvercloudUploadAction Action { get; init; }

    /// <summary>The Glance image ID in use after the upload, or the destination path for an HTTP boot copy.</summary>
    public required string ImageId { get; init; }

    /// <summary>The local file's MD5, lower-case hex.</summary>
    public required string Md5 { get; init; }

    /// <summary>The old image's new name when it was replaced, otherwise null.</summary>
    public string? RenamedTo { get; init; }
}
