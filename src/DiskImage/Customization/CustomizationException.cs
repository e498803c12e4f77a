namespace DiskImage.Customization;

/// <summary>
/// A customization operation cannot be applied: bad arguments, a missing or malformed guest or host file,
/// a path that escapes the file system through a symbolic link, <c>edit</c> on a binary file. The message
/// names the operation as it was written (<c>--chmod 0644:/etc/x</c>).
/// </summary>
/// <remarks>Errors found while validating are thrown before anything is written, so the file system is unchanged.</remarks>
public sealed class CustomizationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CustomizationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public CustomizationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public CustomizationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for one operation.</summary>
    /// <param name="operation">The operation as written, for example <c>--write /etc/x:y</c>; null when none applies.</param>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause, or null.</param>
    public CustomizationException(string? operation, string message, Exception? innerException = null)
        : base(operation is null ? message : $"{operation}: {message}", innerException)
    {
        Operation = operation;
    }

    /// <summary>The operation as written (<c>--chmod 0644:/etc/x</c>), or null.</summary>
    public string? Operation { get; }
}
