namespace DiskImage.FileSystems;

/// <summary>
/// Base of the read-only views over other file systems (overlays, clamps, mount splits): every change throws
/// <see cref="NotSupportedException"/> with the view's message, <see cref="OpenFile"/> admits only
/// <see cref="FileMode.Open"/> with <see cref="FileAccess.Read"/>, and flushing or disposing the view does nothing
/// (the views do not own what they show).
/// </summary>
internal abstract class ReadOnlyFileSystemView(string readOnlyMessage) : IFileSystem
{
    public bool IsReadOnly => true;

    public abstract UnixFileInfo GetEntry(string path);

    public abstract bool Exists(string path);

    public abstract IEnumerable<UnixFileInfo> EnumerateDirectory(string path);

    public abstract IReadOnlyDictionary<string, byte[]> GetXattrs(string path);

    public Stream OpenFile(string path, FileMode mode, FileAccess access) =>
        mode == FileMode.Open && access == FileAccess.Read ? OpenRead(path) : throw ReadOnly();

    public void CreateDirectory(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw ReadOnly();

    public void CreateSymbolicLink(string path, string target) => throw ReadOnly();

    public void CreateHardLink(string path, string existingPath) => throw ReadOnly();

    public void CreateDevice(string path, UnixFileType type, int major, int minor, UnixFileMode mode = UnixFileModeBits.Device) => throw ReadOnly();

    public void CreateFifo(string path, UnixFileMode mode = UnixFileModeBits.File) => throw ReadOnly();

    public void CreateSocket(string path, UnixFileMode mode = UnixFileModeBits.Directory) => throw ReadOnly();

    public void Delete(string path) => throw ReadOnly();

    public void Rename(string sourcePath, string destinationPath) => throw ReadOnly();

    public void SetMode(string path, UnixFileMode mode) => throw ReadOnly();

    public void SetOwner(string path, uint userId, uint groupId) => throw ReadOnly();

    public void SetTimes(string path, UnixTime? accessTime, UnixTime? modificationTime) => throw ReadOnly();

    public void SetXattr(string path, string name, ReadOnlySpan<byte> value) => throw ReadOnly();

    public bool RemoveXattr(string path, string name) => throw ReadOnly();

    public void Flush()
    {
    }

    public virtual void Dispose()
    {
    }

    /// <summary>Opens the regular file at <paramref name="path"/> for reading.</summary>
    protected abstract Stream OpenRead(string path);

    private NotSupportedException ReadOnly() => new(readOnlyMessage);
}
