using Microsoft.Win32.SafeHandles;

namespace DiskImage.IO;

/// <summary>A device over a host file or block device, using positional I/O (<see cref="RandomAccess"/>); no shared file position.</summary>
/// <remarks>
/// <para>
/// On 64-bit Linux, allocation queries use SEEK_DATA/SEEK_HOLE (holes report as
/// <see cref="AllocationKind.Zero"/>), <see cref="BlockDevice.WriteZeroes(long, long)"/> punches holes, and
/// <see cref="AllocatedSize"/> reports the blocks the file really occupies. Elsewhere, or when the
/// file system refuses these calls, the whole file reports as data and zeros are written.
/// </para>
/// <para>
/// A block device (Linux) has the device's size, is never truncated or resized
/// (<see cref="CanSetLength"/> is false), and is zeroed with the device's own zero-out operation
/// (<c>BLKZEROOUT</c>) where it has one.
/// </para>
/// <para>
/// Files opened by path are locked as QEMU locks image files (<see cref="ImageLocking"/>): a reader
/// shares everything, a writer does not share writing, so a second writable open of the same file,
/// in this process or another one (DiskImage or QEMU), fails with <see cref="IOException"/>.
/// </para>
/// </remarks>
public sealed class FileBlockDevice : BlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly bool _writable;
    private readonly bool _ownsHandle;
    private long _length;
    private volatile bool _seekUnsupported;
    private volatile bool _punchUnsupported;
    private volatile bool _zeroOutUnsupported;

    private FileBlockDevice(SafeFileHandle handle, bool writable, bool ownsHandle, string? path)
    {
        _handle = handle;
        _writable = writable;
        _ownsHandle = ownsHandle;
        IsHostBlockDevice = LinuxFileInterop.IsSupported && LinuxFileInterop.GetFileType(handle) == LinuxFileInterop.BlockDeviceFile;
        _length = IsHostBlockDevice ? DeviceSize(handle, path) : RandomAccess.GetLength(handle);
        Path = path;
    }

    /// <summary>Whether the host object is a block device (Linux), whose size is fixed.</summary>
    public bool IsHostBlockDevice { get; }

    /// <summary>Full path of the file, when opened by path.</summary>
    public string? Path { get; }

    /// <inheritdoc />
    public override long Length => Volatile.Read(ref _length);

    /// <inheritdoc />
    public override bool CanWrite => _writable;

    /// <summary>Bytes the file occupies on the host storage (what <c>du</c> and qemu-img's <c>actual-size</c> report).</summary>
    /// <remarks>Falls back to <see cref="Length"/> where the host cannot tell.</remarks>
    public long AllocatedSize
    {
        get
        {
            ThrowIfDisposed();
            if (LinuxFileInterop.IsSupported)
            {
                try
                {
                    long allocated = LinuxFileInterop.GetAllocatedBytes(_handle);
                    if (allocated >= 0)
                    {
                        return allocated;
                    }
                }
                catch (DllNotFoundException)
                {
                    LinuxFileInterop.MarkUnavailable();
                }
            }

            return Length;
        }
    }

    /// <inheritdoc />
    public override bool CanSetLength => _writable && !IsHostBlockDevice;

    /// <inheritdoc />
    private protected override string FixedLengthMessage => IsHostBlockDevice ? "Cannot resize device files" : base.FixedLengthMessage;

    /// <summary>Opens an existing file or block device, locked as QEMU locks a raw image (<see cref="ImageLocking.Enabled"/>).</summary>
    /// <exception cref="IOException">Another open (another process, or this one) holds locks that conflict.</exception>
    public static FileBlockDevice Open(string path, bool writable = false) => Open(path, writable, ImageLocking.Enabled);

    /// <summary>Opens an existing file or block device with the given locking.</summary>
    /// <exception cref="IOException">With locking enabled, another open holds locks that conflict.</exception>
    /// <exception cref="ArgumentException"><paramref name="locking"/> is <see cref="ImageLocking.ForceShare"/> and <paramref name="writable"/> is true.</exception>
    public static FileBlockDevice Open(string path, bool writable, ImageLocking locking) =>
        Open(path, writable, ImageLockRequest.ForFile(writable, metadataOnly: false, locking));

    /// <summary>Opens an existing file with the locks of <paramref name="request"/> (the format layers choose them).</summary>
    internal static FileBlockDevice Open(string path, bool writable, ImageLockRequest request)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle handle = File.OpenHandle(
            path,
            FileMode.Open,
            writable ? FileAccess.ReadWrite : FileAccess.Read,
            writable ? FileShare.Read : FileShare.ReadWrite | FileShare.Delete);
        try
        {
            QemuImageLock.Acquire(handle, path, request);
            return new FileBlockDevice(handle, writable, ownsHandle: true, System.IO.Path.GetFullPath(path));
        }
        catch
        {
            QemuImageLock.Release(handle);
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a new file of <paramref name="length"/> bytes, sparse where the file system allows. An
    /// existing file is refused unless <paramref name="overwrite"/> is true; then it is truncated, the
    /// write lock taken first, so a file another user holds is refused unchanged. With
    /// <paramref name="overwrite"/>, an existing block device is written in place: it is not truncated,
    /// and must hold at least <paramref name="length"/> bytes.
    /// </summary>
    /// <param name="path">The file to create.</param>
    /// <param name="length">Its length in bytes.</param>
    /// <param name="overwrite">Whether an existing file (or block device) may be replaced; false by default.</param>
    /// <exception cref="IOException">The file exists while <paramref name="overwrite"/> is false (the message names it), is locked by another user, or is a device smaller than <paramref name="length"/>.</exception>
    public static FileBlockDevice Create(string path, long length = 0, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(length);

        // Not FileMode.Create: its O_TRUNC would empty the file before the lock is checked.
        SafeFileHandle handle = overwrite
            ? File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read)
            : CreateNewHandle(path);
        try
        {
            QemuImageLock.Acquire(handle, path, ImageLockRequest.ForFile(writable: true, metadataOnly: false, ImageLocking.Enabled));
            var device = new FileBlockDevice(handle, writable: true, ownsHandle: true, System.IO.Path.GetFullPath(path));
            if (device.IsHostBlockDevice)
            {
                if (device.Length < length)
                {
                    // qemu-img's words.
                    device.Dispose();
                    throw new IOException("Cannot grow device files");
                }

                return device;
            }

            if (RandomAccess.GetLength(handle) != 0)
            {
                RandomAccess.SetLength(handle, 0);
            }

            if (length > 0)
            {
                RandomAccess.SetLength(handle, length);
            }

            device._length = length;
            return device;
        }
        catch
        {
            QemuImageLock.Release(handle);
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Creates <paramref name="path"/>, refusing an existing file with an <see cref="IOException"/> that names it.</summary>
    internal static SafeFileHandle CreateNewHandle(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        }
        catch (IOException) when (File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new IOException($"'{path}' already exists; pass overwrite: true to replace it.");
        }
    }

    /// <summary>Wraps an open handle. No image lock is taken: the owner of the handle decides how it is shared.</summary>
    public static FileBlockDevice FromHandle(SafeFileHandle handle, bool writable, bool ownsHandle = false)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return new FileBlockDevice(handle, writable, ownsHandle, path: null);
    }

    /// <summary>
    /// Asks the host to drop the file's cached pages (Linux; elsewhere, or when refused, nothing
    /// happens). Only a hint about memory: the content is unchanged.
    /// </summary>
    internal void DropCachedPages()
    {
        if (!LinuxFileInterop.IsSupported || IsHostBlockDevice)
        {
            return;
        }

        try
        {
            LinuxFileInterop.DropCache(_handle);
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without posix_fadvise: the cache stays; nothing else depends on it.
        }
        catch (DllNotFoundException)
        {
            LinuxFileInterop.MarkUnavailable();
        }
    }

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, buffer, offset);
            if (n <= 0)
            {
                // The file shrank underneath us; what is past its end reads as zeros.
                buffer.Clear();
                return;
            }

            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => RandomAccess.Write(_handle, buffer, offset);

    /// <summary>
    /// Copies up to <paramref name="length"/> bytes of <paramref name="source"/> at <paramref name="sourceOffset"/> to
    /// <paramref name="offset"/> inside the kernel (<c>copy_file_range</c>, no user-space buffer). Returns the bytes
    /// copied (fewer, or 0, at the source's end), or -1 when the kernel cannot copy between these files (the caller
    /// then reads and writes).
    /// </summary>
    internal long CopyFromFile(SafeFileHandle source, long sourceOffset, long offset, long length)
    {
        ThrowIfDisposed();
        if (!_writable)
        {
            throw new NotSupportedException("The device is not writable.");
        }

        if (offset < 0 || length < 0 || offset > Length - length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), "The range is outside the device.");
        }

        long r = LinuxFileInterop.CopyFileRange(source, sourceOffset, _handle, offset, length);
        return r >= 0 ? r : -1;
    }

    /// <inheritdoc />
    protected override async ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await RandomAccess.ReadAsync(_handle, buffer[total..], offset + total, cancellationToken).ConfigureAwait(false);
            if (n <= 0)
            {
                buffer.Span[total..].Clear();
                break;
            }

            total += n;
        }

        return buffer.Length;
    }

    /// <inheritdoc />
    protected override ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
        RandomAccess.WriteAsync(_handle, buffer, offset, cancellationToken);

    /// <inheritdoc />
    protected override void SetLengthCore(long length)
    {
        if (IsHostBlockDevice)
        {
            throw new NotSupportedException($"The block device '{Path}' cannot be resized.");
        }

        RandomAccess.SetLength(_handle, length);
        Volatile.Write(ref _length, length);
    }

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length)
    {
        if (IsHostBlockDevice)
        {
            ZeroDevice(offset, length);
            return;
        }

        if (LinuxFileInterop.IsSupported && !_punchUnsupported)
        {
            int errno;
            try
            {
                errno = LinuxFileInterop.PunchHole(_handle, offset, length);
            }
            catch (EntryPointNotFoundException)
            {
                LinuxFileInterop.MarkUnavailable();
                errno = -1;
            }
            catch (DllNotFoundException)
            {
                LinuxFileInterop.MarkUnavailable();
                errno = -1;
            }

            if (errno == 0)
            {
                return;
            }

            // EOPNOTSUPP, ENOSYS and friends: the file system cannot punch holes; write zeros instead.
            _punchUnsupported = true;
        }

        base.WriteZeroesCore(offset, length);
    }

    // BLKZEROOUT on the 512-byte aligned middle (the device guarantees zeros afterwards); the rest,
    // or everything when the device has no such operation, is written.
    private void ZeroDevice(long offset, long length)
    {
        const long Sector = 512;
        long start = (offset + Sector - 1) / Sector * Sector;
        long end = (offset + length) / Sector * Sector;
        if (!_zeroOutUnsupported && end > start && LinuxFileInterop.ZeroDeviceRange(_handle, start, end - start) == 0)
        {
            base.WriteZeroesCore(offset, start - offset);
            base.WriteZeroesCore(end, offset + length - end);
            return;
        }

        if (end > start)
        {
            _zeroOutUnsupported = true;
        }

        base.WriteZeroesCore(offset, length);
    }

    private static long DeviceSize(SafeFileHandle handle, string? path)
    {
        long size = LinuxFileInterop.GetDeviceSize(handle);
        if (size < 0)
        {
            throw new IOException($"The size of the block device '{path}' cannot be read (errno {-size}).");
        }

        return size;
    }

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        if (!LinuxFileInterop.IsSupported || _seekUnsupported)
        {
            return new AllocationExtent(offset, maxLength, AllocationKind.Data, offset);
        }

        long data;
        try
        {
            data = LinuxFileInterop.Seek(_handle, offset, LinuxFileInterop.SeekData);
        }
        catch (EntryPointNotFoundException)
        {
            LinuxFileInterop.MarkUnavailable();
            data = long.MinValue;
        }
        catch (DllNotFoundException)
        {
            LinuxFileInterop.MarkUnavailable();
            data = long.MinValue;
        }

        if (data == -LinuxFileInterop.ENXIO)
        {
            // No data at or after the offset: the rest is a hole.
            return new AllocationExtent(offset, maxLength, AllocationKind.Zero, offset);
        }

        if (data < 0)
        {
            _seekUnsupported = true;
            return new AllocationExtent(offset, maxLength, AllocationKind.Data, offset);
        }

        if (data > offset)
        {
            return new AllocationExtent(offset, Math.Min(data - offset, maxLength), AllocationKind.Zero, offset);
        }

        long hole = LinuxFileInterop.Seek(_handle, offset, LinuxFileInterop.SeekHole);
        long length = hole > offset ? Math.Min(hole - offset, maxLength) : maxLength;
        return new AllocationExtent(offset, length, AllocationKind.Data, offset);
    }

    /// <inheritdoc />
    protected override void FlushCore()
    {
        // A read-only handle has nothing to flush (and Windows refuses to flush one).
        if (_writable)
        {
            RandomAccess.FlushToDisk(_handle);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsHandle)
        {
            QemuImageLock.Release(_handle);
            _handle.Dispose();
        }
    }
}
