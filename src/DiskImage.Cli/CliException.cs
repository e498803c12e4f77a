namespace DiskImage.Cli;

/// <summary>
/// A failure the CLI reports as <c>diskimage: message</c> on stderr, then exits with
/// <see cref="ExitCode"/>. <see cref="ShowHelpHint"/> adds qemu-img's "Try ... --help" line
/// (used for command-line mistakes).
/// </summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode = 1, bool showHelpHint = false)
        : base(message)
    {
        ExitCode = exitCode;
        ShowHelpHint = showHelpHint;
    }

    public CliException()
        : this("error")
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException)
    {
        ExitCode = 1;
    }

    public int ExitCode { get; }

    public bool ShowHelpHint { get; }

    /// <summary>A command-line usage error: message, the help hint, exit code 1.</summary>
    public static CliException Usage(string message) => new(message, 1, showHelpHint: true);
}
