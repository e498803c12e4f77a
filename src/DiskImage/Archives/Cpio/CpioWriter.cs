using System.Buffers;
using System.Text;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Writes a newc (<c>070701</c>) or crc (<c>070702</c>) cpio archive to a stream, entry by entry,
/// and ends it with <c>TRAILER!!!</c> (on <see cref="WriteTrailer"/> or dispose). The stream need
/// not be seekable. Entries are written as given: ordering, inode numbering and hard link layout are
/// the caller's (see <see cref="CpioArchiveBuilder"/> for reproducible archives).
/// </summary>
public sealed class CpioWriter : IDisposable, IAsyncDisposable
{
    private const int CopyBufferSize = 256 * 1024;
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private long _position;
    private bool _trailerWritten;
    private bool _disposed;

    /// <summary>Creates a writer.</summary>
    /// <param name="archiveStream">The destination; written forward only.</param>
    /// <param name="format">The header variant for every entry.</param>
    /// <param name="leaveOpen">Whether to leave <paramref name="archiveStream"/> open on dispose.</param>
    public CpioWriter(Stream archiveStream, CpioFormat format = CpioFormat.Newc, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(archiveStream);
        if (!archiveStream.CanWrite)
        {
            throw new ArgumentException("The stream must be writable.", nameof(archiveStream));
        }

        if (format is not (CpioFormat.Newc or CpioFormat.Crc))
        {
            throw new ArgumentOutOfRangeException(nameof(format));
        }

        _stream = archiveStream;
        Format = format;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The header variant written.</summary>
    public CpioFormat Format { get; }

    /// <summary>
    /// The archive is padded with NULs to a multiple of this after the trailer (default 512, as GNU
    /// cpio and gen_init_cpio do; 4 for no extra padding). Must be a positive multiple of 4.
    /// </summary>
    public int TrailerAlignment
    {
        get;
        init
        {
            if (value <= 0 || (value & 3) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "Must be a positive multiple of 4.");
            }

            field = value;
        }
    } = 512;

    /// <summary>
    /// When non-zero, the data of each non-empty regular file starts at a multiple of this offset in
    /// the archive, by padding the name with NULs (the kernel's "file data alignment via name
    /// padding"; 16 keeps Intel microcode aligned in an early cpio). Must be a multiple of 4; the
    /// padding is skipped when it would push the name size over the kernel's limit.
    /// </summary>
    public int DataAlignment
    {
        get;
        init
        {
            if (value < 0 || (value & 3) != 0 || value > 2048)
            {
                throw new ArgumentOutOfRangeException(nameof(value), "Must be a multiple of 4 between 0 and 2048.");
            }

            field = value;
        }
    }

    /// <summary>Bytes written so far (the archive stream may start at a non-zero base; alignment is relative to the writer's start).</summary>
    public long Position => _position;

    /// <summary>Writes <paramref name="entry"/> and, for regular files, <see cref="CpioEntry.Length"/> bytes of its <see cref="CpioEntry.DataStream"/>.</summary>
    public void WriteEntry(CpioEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfTrailerWritten();
        Stream? data = PrepareData(entry, out uint checksum, out Stream? owned);
        try
        {
            byte[] header = BuildHeader(entry, checksum, out int headerLength, out byte[]? linkBytes);
            try
            {
                _stream.Write(header, 0, headerLength);
                _position += headerLength;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(header);
            }

            if (linkBytes is not null)
            {
                _stream.Write(linkBytes);
                _position += linkBytes.Length;
                WritePadding();
            }
            else if (entry.EntryType == CpioEntryType.RegularFile && entry.Length > 0)
            {
                CopyData(data!, entry.Length, entry.Name);
                WritePadding();
            }
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <inheritdoc cref="WriteEntry(CpioEntry)"/>
    /// <param name="entry">The entry to write.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public async ValueTask WriteEntryAsync(CpioEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfTrailerWritten();
        Stream? data = PrepareData(entry, out uint checksum, out Stream? owned);
        try
        {
            byte[] header = BuildHeader(entry, checksum, out int headerLength, out byte[]? linkBytes);
            try
            {
                await _stream.WriteAsync(header.AsMemory(0, headerLength), cancellationToken).ConfigureAwait(false);
                _position += headerLength;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(header);
            }

            if (linkBytes is not null)
            {
                await _stream.WriteAsync(linkBytes, cancellationToken).ConfigureAwait(false);
                _position += linkBytes.Length;
                await WritePaddingAsync(cancellationToken).ConfigureAwait(false);
            }
            else if (entry.EntryType == CpioEntryType.RegularFile && entry.Length > 0)
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                try
                {
                    long left = entry.Length;
                    while (left > 0)
                    {
                        int n = await data!.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                        if (n <= 0)
                        {
                            throw new InvalidOperationException($"The data stream of '{entry.Name}' ended {left} bytes before its declared length.");
                        }

                        await _stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                        left -= n;
                        _position += n;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                await WritePaddingAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (owned is not null)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes the <c>TRAILER!!!</c> entry and the final padding. Called by dispose when not called before.</summary>
    public void WriteTrailer()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfTrailerWritten();
        byte[] trailer = BuildTrailer(out int length);
        try
        {
            _stream.Write(trailer, 0, length);
            _position += length;
            _trailerWritten = true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(trailer);
        }
    }

    /// <inheritdoc cref="WriteTrailer"/>
    /// <param name="cancellationToken">Cancels the write.</param>
    public async ValueTask WriteTrailerAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ThrowIfTrailerWritten();
        byte[] trailer = BuildTrailer(out int length);
        try
        {
            await _stream.WriteAsync(trailer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            _position += length;
            _trailerWritten = true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(trailer);
        }
    }

    /// <summary>Writes the trailer if needed, flushes, and disposes the stream unless leaveOpen.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (!_trailerWritten)
            {
                WriteTrailer();
            }

            _stream.Flush();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                _stream.Dispose();
            }
        }
    }

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            if (!_trailerWritten)
            {
                await WriteTrailerAsync().ConfigureAwait(false);
            }

            await _stream.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void ThrowIfTrailerWritten()
    {
        if (_trailerWritten)
        {
            throw new InvalidOperationException("The trailer has been written; the archive is complete.");
        }
    }

    private Stream? PrepareData(CpioEntry entry, out uint checksum, out Stream? owned)
    {
        checksum = 0;
        owned = null;
        if (entry.Name == CpioLimits.TrailerName)
        {
            throw new ArgumentException($"An entry may not be named {CpioLimits.TrailerName}.", nameof(entry));
        }

        if (entry.EntryType != CpioEntryType.RegularFile || entry.Length == 0)
        {
            return null;
        }

        Stream data = entry.DataStreamCore ?? throw new ArgumentException($"Entry '{entry.Name}' has length {entry.Length} but no DataStream.", nameof(entry));
        if (Format != CpioFormat.Crc)
        {
            return data;
        }

        // The crc checksum precedes the data: sum it first, rewinding or buffering as needed.
        Stream source = data;
        if (!data.CanSeek)
        {
            Stream temp = entry.Length <= 64L * 1024 * 1024
                ? new MemoryStream((int)entry.Length)
                : new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 4096, FileOptions.DeleteOnClose);
            owned = temp;
            CopyExactly(data, temp, entry.Length, entry.Name);
            temp.Position = 0;
            source = temp;
        }

        long start = source.Position;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            long left = entry.Length;
            while (left > 0)
            {
                int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n <= 0)
                {
                    throw new InvalidOperationException($"The data stream of '{entry.Name}' ended {left} bytes before its declared length.");
                }

                checksum = CpioHeader.Sum(checksum, buffer.AsSpan(0, n));
                left -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        source.Position = start;
        return source;
    }

    private static void CopyExactly(Stream from, Stream to, long length, string name)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            while (length > 0)
            {
                int n = from.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
                if (n <= 0)
                {
                    throw new InvalidOperationException($"The data stream of '{name}' ended {length} bytes before its declared length.");
                }

                to.Write(buffer, 0, n);
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void CopyData(Stream data, long length, string name)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            while (length > 0)
            {
                int n = data.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
                if (n <= 0)
                {
                    throw new InvalidOperationException($"The data stream of '{name}' ended {length} bytes before its declared length.");
                }

                _stream.Write(buffer, 0, n);
                length -= n;
                _position += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private byte[] BuildHeader(CpioEntry entry, uint checksum, out int length, out byte[]? linkBytes)
    {
        linkBytes = null;
        long fileSize = 0;
        if (entry.EntryType == CpioEntryType.SymbolicLink)
        {
            if (string.IsNullOrEmpty(entry.LinkName))
            {
                throw new ArgumentException($"Symbolic link '{entry.Name}' has no LinkName.", nameof(entry));
            }

            linkBytes = DiskImage.FileSystems.UnixPathEncoding.GetBytes(entry.LinkName);
            if (linkBytes.Length > CpioLimits.MaxLinkTargetLength || Array.IndexOf(linkBytes, (byte)0) >= 0)
            {
                throw new ArgumentException($"Symbolic link target of '{entry.Name}' is longer than {CpioLimits.MaxLinkTargetLength} bytes or contains NUL.", nameof(entry));
            }

            fileSize = linkBytes.Length;
            if (Format == CpioFormat.Crc)
            {
                checksum = CpioHeader.Sum(0, linkBytes);
            }
        }
        else if (entry.EntryType == CpioEntryType.RegularFile)
        {
            fileSize = entry.Length;
        }

        int nameBytes = DiskImage.FileSystems.UnixPathEncoding.GetByteCount(entry.Name);
        if (nameBytes + 1 > CpioLimits.MaxNameSize)
        {
            throw new ArgumentException($"Name '{entry.Name[..Math.Min(64, entry.Name.Length)]}...' is longer than the kernel's limit of {CpioLimits.MaxNameSize - 1} bytes.", nameof(entry));
        }

        if (entry.Name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A name may not contain NUL.", nameof(entry));
        }

        int padding = entry.NamePadding;
        if (DataAlignment > 0 && entry.EntryType == CpioEntryType.RegularFile && fileSize > 0)
        {
            long dataStart = _position + CpioHeader.Size + nameBytes + 1;
            dataStart += CpioHeader.PadTo4(dataStart);
            int extra = (int)((DataAlignment - (dataStart % DataAlignment)) % DataAlignment);
            padding = nameBytes + 1 + extra <= CpioLimits.MaxNameSize ? extra : padding;
        }

        int nameSize = nameBytes + 1 + padding;
        if (padding < 0 || nameSize > CpioLimits.MaxNameSize)
        {
            throw new ArgumentException("Name padding makes the name size exceed the kernel's limit.", nameof(entry));
        }

        int total = CpioHeader.Size + nameSize;
        total += CpioHeader.PadTo4(_position + total);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
        buffer.AsSpan(0, total).Clear();
        Span<uint> f = stackalloc uint[CpioHeader.FieldCount];
        f[CpioHeader.Ino] = entry.Inode;
        f[CpioHeader.Mode] = (uint)entry.EntryType | ((uint)entry.Mode & 0xFFF);
        f[CpioHeader.Uid] = entry.Uid;
        f[CpioHeader.Gid] = entry.Gid;
        f[CpioHeader.NLink] = entry.NLink;
        f[CpioHeader.MTime] = entry.ModificationTimeSeconds;
        f[CpioHeader.FileSize] = (uint)fileSize;
        f[CpioHeader.DevMajor] = entry.DevMajor;
        f[CpioHeader.DevMinor] = entry.DevMinor;
        f[CpioHeader.RDevMajor] = entry.RDevMajor;
        f[CpioHeader.RDevMinor] = entry.RDevMinor;
        f[CpioHeader.NameSize] = (uint)nameSize;
        f[CpioHeader.Check] = Format == CpioFormat.Crc ? checksum : 0;
        CpioHeader.Write(buffer, Format, f);
        DiskImage.FileSystems.UnixPathEncoding.TryGetBytes(entry.Name, buffer.AsSpan(CpioHeader.Size, nameBytes), out _);
        length = total;
        return buffer;
    }

    private byte[] BuildTrailer(out int length)
    {
        int nameSize = CpioLimits.TrailerName.Length + 1;
        long end = _position + CpioHeader.Size + nameSize;
        end += CpioHeader.PadTo4(end);
        long rem = end % TrailerAlignment;
        if (rem != 0)
        {
            end += TrailerAlignment - rem;
        }

        length = (int)(end - _position);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        buffer.AsSpan(0, length).Clear();
        Span<uint> f = stackalloc uint[CpioHeader.FieldCount];
        f.Clear();
        f[CpioHeader.NLink] = 1;
        f[CpioHeader.NameSize] = (uint)nameSize;
        CpioHeader.Write(buffer, Format, f);
        Encoding.ASCII.GetBytes(CpioLimits.TrailerName, buffer.AsSpan(CpioHeader.Size));
        return buffer;
    }

    private void WritePadding()
    {
        int pad = CpioHeader.PadTo4(_position);
        if (pad > 0)
        {
            Span<byte> zeros = stackalloc byte[4];
            zeros.Clear();
            _stream.Write(zeros[..pad]);
            _position += pad;
        }
    }

    private async ValueTask WritePaddingAsync(CancellationToken cancellationToken)
    {
        int pad = CpioHeader.PadTo4(_position);
        if (pad > 0)
        {
            await _stream.WriteAsync(new byte[pad], cancellationToken).ConfigureAwait(false);
            _position += pad;
        }
    }
}
