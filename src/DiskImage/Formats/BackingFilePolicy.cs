namespace DiskImage.Formats;

/// <summary>Whether opening an image may open other host files that the image names.</summary>
public enum BackingFilePolicy
{
    /// <summary>
    /// Default. An image that names a backing file (or an external data file) fails to open with a
    /// clear message: an untrusted image must not make us read arbitrary host files.
    /// </summary>
    Deny = 0,

    /// <summary>Follow backing files: relative names resolve against the overlay's directory, the chain depth is capped and loops are refused.</summary>
    Allow = 1,
}
