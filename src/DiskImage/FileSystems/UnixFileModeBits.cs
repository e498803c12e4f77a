namespace DiskImage.FileSystems;

/// <summary>
/// The conversion between the public <see cref="UnixFileMode"/> and the raw permission bits (<c>st_mode &amp; 07777</c>)
/// the on-disk code keeps, and the default modes of the <see cref="IFileSystem"/> create methods.
/// </summary>
internal static class UnixFileModeBits
{
    /// <summary>0755: the default of directories and sockets.</summary>
    public const UnixFileMode Directory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>0644: the default of regular files and named pipes.</summary>
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>0660: the default of device nodes.</summary>
    public const UnixFileMode Device = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    /// <summary>All the bits a mode may carry (07777).</summary>
    public const int Mask = 0xFFF;

    /// <summary>
    /// The raw bits of <paramref name="mode"/>; a value with bits outside 07777 (a file type, or a decimal
    /// number meant as octal) throws <see cref="ArgumentOutOfRangeException"/> rather than being masked.
    /// </summary>
    public static int ToBits(UnixFileMode mode, string paramName)
    {
        if (((int)mode & ~Mask) != 0)
        {
            throw new ArgumentOutOfRangeException(paramName, mode,
                $"A mode holds only permission, set-uid, set-gid and sticky bits (07777); 0{Convert.ToString((int)mode, 8)} has other bits set.");
        }

        return (int)mode;
    }

    /// <summary>The public mode of raw permission bits (bits outside 07777 are dropped).</summary>
    public static UnixFileMode FromBits(int bits) => (UnixFileMode)(bits & Mask);
}
