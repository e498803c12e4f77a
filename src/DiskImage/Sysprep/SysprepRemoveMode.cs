namespace DiskImage.Sysprep;

/// <summary>How a <see cref="Operations.PathRemovalOperation"/> removes what its globs match.</summary>
internal enum SysprepRemoveMode
{
    /// <summary><c>rm</c>: files, links and other non-directories; a matching directory is left alone.</summary>
    File,

    /// <summary><c>rm -rf</c>: anything, directories with their contents.</summary>
    Tree,
}
