namespace DiskImage.OpenStack;

/// <summary>An upload's outcome: the image as Glance reports it after the upload, and the hashes of the
/// bytes that were sent (computed while sending).</summary>
public sealed class GlanceUploadResult
{
    /// <summary>The image after the upload (status <c>active</c>).</summary>
    public required GlanceImage Image { get; init; }

    /// <summary>The number of bytes sent.</summary>
    public required long Size { get; init; }

    /// <summary>The MD5 of the bytes sent, lower-case hex.</summary>
    public required string Md5 { get; init; }

    /// <summary>The SHA-512 of the bytes sent, lower-case hex.</summary>
    public required string Sha512 { get; init; }
}
