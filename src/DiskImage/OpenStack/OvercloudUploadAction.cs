namespace DiskImage.OpenStack;

/// <summary>What the upload did with one image.</summary>
public enum OvercloudUploadAction
{
    /// <summary>No image of that name existed; it was uploaded.</summary>
    Uploaded,

    /// <summary>An image of that name holds the same bytes (same MD5); it was kept and reused.</summary>
    UpToDate,

    /// <summary>The content changed and <see cref="OvercloudUploadOptions.UpdateExisting"/> was set: the old image was
    /// renamed and a new one uploaded.</summary>
    Replaced,

    /// <summary>The content changed but <see cref="OvercloudUploadOptions.UpdateExisting"/> was not set: the old image
    /// was kept and reused.</summary>
    Outdated,

    /// <summary>A file was copied to the HTTP boot directory.</summary>
    Copied,
}
