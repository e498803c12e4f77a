namespace DiskImage.FileSystems;

/// <summary>
/// A Unix file system addressed by absolute, '/'-separated paths ("/etc/hostname"). Implemented by
/// ext4, XFS and the in-memory reference; everything above the file-system layer (customization,
/// sysprep, copy-in/out) talks to this interface only.
/// </summary>
/// <remarks>
/// <para><b>Paths.</b> Paths must start with '/'. Empty components and "." are ignored; ".." moves to
/// the parent directory (the root's parent is the root). Symbolic links in intermediate components
/// are followed and resolved inside this file system (absolute targets start at its root), at most
/// 40 times per lookup. The final component is not followed (like <c>lstat</c>), except by
/// <see cref="OpenFile"/> and <see cref="EnumerateDirectory"/>.</para>
/// <para><b>Names</b> (and symbolic-link targets) are bytes on disk; they cross to and from strings through
/// <see cref="UnixPathEncoding"/>, losslessly: valid UTF-8 decodes as usual, each byte that is not part of a valid
/// UTF-8 sequence becomes the lone surrogate U+DC80 + (byte − 0x80) and is written back as that byte (Python's
/// surrogate escape). So every on-disk name has exactly one string, two names never merge, and
/// <see cref="EnumerateDirectory"/> returns names that open the same entries. A name or target holding a lone
/// surrogate outside U+DC80–U+DCFF, or escapes whose bytes would form valid UTF-8, is refused with
/// <see cref="ArgumentException"/>; names are 1 to 255 bytes in that encoding.</para>
/// <para><b>Exceptions</b> follow the BCL:</para>
/// <list type="bullet">
/// <item><see cref="ArgumentException"/>: the path is not absolute, is empty, or contains a NUL.</item>
/// <item><see cref="FileNotFoundException"/>: the final component does not exist.</item>
/// <item><see cref="DirectoryNotFoundException"/>: an intermediate component does not exist or is not a directory.</item>
/// <item><see cref="IOException"/>: the target already exists, a directory is not empty, an entry
/// has the wrong type for the operation (e.g. enumerating a file), or too many symbolic links.</item>
/// <item><see cref="UnauthorizedAccessException"/>: opening a directory as a file.</item>
/// <item><see cref="NotSupportedException"/>: any change to a file system whose <see cref="IsReadOnly"/> is true,
/// or a feature the implementation does not support.</item>
/// <item><see cref="InvalidDataException"/>: the on-disk structures are corrupt.</item>
/// </list>
/// <para>Permissions are never enforced: the caller acts as root.</para>
/// </remarks>
public interface IFileSystem : IDisposable
{
    /// <summary>Whether every change is refused with <see cref="NotSupportedException"/>.</summary>
    bool IsReadOnly { get; }

    /// <summary>Returns the entry at <paramref name="path"/> without following a final symbolic link.</summary>
    UnixFileInfo GetEntry(string path);

    /// <summary>Whether an entry exists at <paramref name="path"/> (a final symbolic link is not followed).</summary>
    bool Exists(string path);

    /// <summary>
    /// Lists the entries of a directory, without "." and "..", in an implementation-defined order.
    /// A final symbolic link to a directory is followed.
    /// </summary>
    IEnumerable<UnixFileInfo> EnumerateDirectory(string path);

    /// <summary>
    /// Opens a regular file (following a final symbolic link) as a seekable stream.
    /// <see cref="FileMode"/> and <see cref="FileAccess"/> have their <see cref="File.Open(string, FileMode, FileAccess)"/> meaning;
    /// new files get mode 0644 and uid/gid 0.
    /// </summary>
    Stream OpenFile(string path, FileMode mode, FileAccess access);

    /// <summary>Creates a directory with the given permission bits; the parent must exist.</summary>
    void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory);

    /// <summary>Creates a symbolic link at <paramref name="path"/> whose target is <paramref name="target"/> (stored verbatim).</summary>
    void CreateSymbolicLink(string path, string target);

    /// <summary>Creates a hard link at <paramref name="path"/> to the existing non-directory <paramref name="existingPath"/>.</summary>
    void CreateHardLink(string path, string existingPath);

    /// <summary>Creates a character or block device node.</summary>
    void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device);

    /// <summary>Creates a named pipe.</summary>
    void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File);

    /// <summary>Creates a socket inode (a placeholder; nothing listens on it).</summary>
    void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory);

    /// <summary>Removes a non-directory entry or an empty directory (a final symbolic link itself is removed).</summary>
    void Delete(string path);

    /// <summary>
    /// Moves an entry, with POSIX <c>rename</c> semantics: an existing destination of a compatible type
    /// (a non-directory, or an empty directory when moving a directory) is replaced; moving a directory
    /// into itself throws <see cref="IOException"/>.
    /// </summary>
    void Rename(string sourcePath, string destinationPath);

    /// <summary>Sets the permission bits (<c>mode &amp; 07777</c>) of an entry (not following a final symbolic link).</summary>
    void SetMode(string path, UnixFileMode mode);

    /// <summary>Sets the owner of an entry (not following a final symbolic link).</summary>
    void SetOwner(string path, uint userId, uint groupId);

    /// <summary>Sets access and/or modification time; null leaves a time unchanged. The change time becomes now.</summary>
    void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime);

    /// <summary>
    /// Returns the extended attributes of an entry, keyed by full name with namespace prefix
    /// ("user.comment", "security.selinux", "system.posix_acl_access"), values as raw bytes.
    /// </summary>
    IReadOnlyDictionary<string, byte[]> GetXattrs(string path);

    /// <summary>Creates or replaces an extended attribute.</summary>
    void SetXattr(string path, string name, ReadOnlySpan<byte> value);

    /// <summary>Removes an extended attribute; returns false when it did not exist.</summary>
    bool RemoveXattr(string path, string name);

    /// <summary>Writes every pending change to the underlying storage.</summary>
    void Flush();
}
