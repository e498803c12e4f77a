using System.Buffers;
using System.Text;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Reads the entries of one newc (<c>070701</c>) or crc (<c>070702</c>) cpio archive from a stream,
/// in order, up to its <c>TRAILER!!!</c>. Streams: entry data is read from the archive on demand.
/// Malformed input throws <see cref="InvalidDataException"/>. For concatenated and compressed
/// initramfs images use <see cref="Initramfs"/>.
/// </summary>
public sealed class CpioReader : IDisposable, IAsyncDisposable
{
    private const string Structure = "cpio header";
    private readonly ArchiveInput _input;
    private readonly bool _ownsInput;
    private CpioDataStream? _current;
    private bool _reachedTrailer;
    private bool _disposed;

    /// <summary>Creates a reader over <paramref name="archiveStream"/>.</summary>
    /// <param name="archiveStream">The archive; read forward only, so it need not be seekable.</param>
    /// <param name="leaveOpen">Whether to leave <paramref name="archiveStream"/> open when the reader is disposed.</param>
    public CpioReader(Stream archiveStream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(archiveStream);
        if (!archiveStream.CanRead)
        {
            throw new ArgumentException("The stream must be readable.", nameof(archiveStream));
        }

        _input = new ArchiveInput(archiveStream, leaveOpen);
        _ownsInput = true;
    }

    internal CpioReader(ArchiveInput input)
    {
        _input = input;
    }

    /// <summary>Whether the <c>TRAILER!!!</c> entry has been read.</summary>
    public bool ReachedTrailer => _reachedTrailer;

    /// <summary>
    /// Verify the crc format's checksums (default true). A mismatch is reported when an entry's data
    /// has been read to its end or skipped.
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;

    /// <summary>Position just after the last byte consumed, in the archive stream.</summary>
    internal long Position => _input.Position;

    /// <summary>
    /// Returns the next entry, or null after <c>TRAILER!!!</c>. The data of the previous entry is
    /// skipped if it was not read.
    /// </summary>
    /// <param name="copyData">
    /// Copy the data into memory so it outlives the next call; otherwise <see cref="CpioEntry.DataStream"/>
    /// reads the archive and becomes invalid at the next call.
    /// </param>
    public CpioEntry? GetNextEntry(bool copyData = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_reachedTrailer)
        {
            return null;
        }

        FinishCurrent();
        long zeros = _input.SkipZeros();
        long headerOffset = _input.Position;
        if (zeros > 0 && (headerOffset & 3) != 0)
        {
            FormatError.Throw(Structure, headerOffset, "broken padding: a header must start at a multiple of 4");
        }

        if (!_input.Ensure(CpioHeader.Size))
        {
            FormatError.Throw(Structure, headerOffset, zeros > 0 || _input.Peek() >= 0 ? "truncated header" : "archive ends without TRAILER!!!");
        }

        Span<uint> fields = stackalloc uint[CpioHeader.FieldCount];
        CpioFormat format = ParseHeader(_input.Buffered[..CpioHeader.Size], headerOffset, fields);
        _input.Advance(CpioHeader.Size);
        int nameSize = (int)fields[CpioHeader.NameSize];
        int namePadded = nameSize + CpioHeader.PadTo4(headerOffset + CpioHeader.Size + nameSize);
        if (!_input.Ensure(namePadded))
        {
            FormatError.Throw(Structure, headerOffset, "truncated name");
        }

        CpioEntry entry = CreateEntry(format, fields, _input.Buffered[..nameSize], headerOffset);
        _input.Advance(namePadded);
        entry.DataOffset = _input.Position;
        return CompleteEntry(entry, copyData);
    }

    /// <inheritdoc cref="GetNextEntry(bool)"/>
    /// <param name="copyData">See <see cref="GetNextEntry(bool)"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async ValueTask<CpioEntry?> GetNextEntryAsync(bool copyData = false, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_reachedTrailer)
        {
            return null;
        }

        if (_current is not null)
        {
            await _current.SkipToEndAsync(cancellationToken).ConfigureAwait(false);
            _current = null;
        }

        long zeros = await _input.SkipZerosAsync(cancellationToken).ConfigureAwait(false);
        long headerOffset = _input.Position;
        if (zeros > 0 && (headerOffset & 3) != 0)
        {
            FormatError.Throw(Structure, headerOffset, "broken padding: a header must start at a multiple of 4");
        }

        if (!await _input.EnsureAsync(CpioHeader.Size, cancellationToken).ConfigureAwait(false))
        {
            FormatError.Throw(Structure, headerOffset, "truncated header or missing TRAILER!!!");
        }

        uint[] fields = new uint[CpioHeader.FieldCount];
        CpioFormat format = ParseHeader(_input.Buffered[..CpioHeader.Size], headerOffset, fields);
        _input.Advance(CpioHeader.Size);
        int nameSize = (int)fields[CpioHeader.NameSize];
        int namePadded = nameSize + CpioHeader.PadTo4(headerOffset + CpioHeader.Size + nameSize);
        if (!await _input.EnsureAsync(namePadded, cancellationToken).ConfigureAwait(false))
        {
            FormatError.Throw(Structure, headerOffset, "truncated name");
        }

        CpioEntry entry = CreateEntry(format, fields, _input.Buffered[..nameSize], headerOffset);
        _input.Advance(namePadded);
        entry.DataOffset = _input.Position;
        if (entry.EntryType == CpioEntryType.SymbolicLink)
        {
            await ReadLinkTargetAsync(entry, cancellationToken).ConfigureAwait(false);
            return entry;
        }

        var data = new CpioDataStream(_input, entry, VerifyChecksums);
        if (entry.Name == CpioLimits.TrailerName)
        {
            await data.SkipToEndAsync(cancellationToken).ConfigureAwait(false);
            _reachedTrailer = true;
            return null;
        }

        if (copyData && entry.EntryType == CpioEntryType.RegularFile)
        {
            var copy = new MemoryStream(checked((int)Math.Min(entry.Length, Array.MaxLength)));
            await data.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            await data.SkipToEndAsync(cancellationToken).ConfigureAwait(false);
            copy.Position = 0;
            entry.DataStreamCore = copy;
            return entry;
        }

        _current = data;
        entry.DataStreamCore = entry.EntryType == CpioEntryType.RegularFile ? data : null;
        return entry;
    }

    /// <summary>Disposes the reader and, unless it was created with leaveOpen, the stream.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            if (_ownsInput)
            {
                _input.Dispose();
            }
        }
    }

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Skips the rest of the current entry's data and padding (verifying its checksum).</summary>
    internal void FinishCurrent()
    {
        if (_current is not null)
        {
            _current.SkipToEnd();
            _current = null;
        }
    }

    private CpioEntry? CompleteEntry(CpioEntry entry, bool copyData)
    {
        if (entry.EntryType == CpioEntryType.SymbolicLink)
        {
            ReadLinkTarget(entry);
            return entry;
        }

        var data = new CpioDataStream(_input, entry, VerifyChecksums);
        if (entry.Name == CpioLimits.TrailerName)
        {
            data.SkipToEnd();
            _reachedTrailer = true;
            return null;
        }

        if (copyData && entry.EntryType == CpioEntryType.RegularFile)
        {
            var copy = new MemoryStream(checked((int)Math.Min(entry.Length, Array.MaxLength)));
            data.CopyTo(copy);
            data.SkipToEnd();
            copy.Position = 0;
            entry.DataStreamCore = copy;
            return entry;
        }

        _current = data;
        entry.DataStreamCore = entry.EntryType == CpioEntryType.RegularFile ? data : null;
        return entry;
    }

    private void ReadLinkTarget(CpioEntry entry)
    {
        int length = (int)entry.RawLength;
        int padded = length + CpioHeader.PadTo4(_input.Position + length);
        if (!_input.Ensure(padded))
        {
            FormatError.Throw(Structure, entry.HeaderOffset, "truncated symbolic link target");
        }

        SetLinkTarget(entry, _input.Buffered[..length]);
        _input.Advance(padded);
    }

    private async ValueTask ReadLinkTargetAsync(CpioEntry entry, CancellationToken cancellationToken)
    {
        int length = (int)entry.RawLength;
        int padded = length + CpioHeader.PadTo4(_input.Position + length);
        if (!await _input.EnsureAsync(padded, cancellationToken).ConfigureAwait(false))
        {
            FormatError.Throw(Structure, entry.HeaderOffset, "truncated symbolic link target");
        }

        SetLinkTarget(entry, _input.Buffered[..length]);
        _input.Advance(padded);
    }

    private void SetLinkTarget(CpioEntry entry, ReadOnlySpan<byte> target)
    {
        if (entry.Format == CpioFormat.Crc && VerifyChecksums && CpioHeader.Sum(0, target) != entry.Checksum && entry.Checksum != 0)
        {
            FormatError.Throw(Structure, entry.HeaderOffset, $"checksum mismatch for '{entry.Name}'");
        }

        // Strip one trailing NUL, as the kernel tolerates writers that include it.
        if (!target.IsEmpty && target[^1] == 0)
        {
            target = target[..^1];
        }

        if (target.IsEmpty || target.Contains((byte)0))
        {
            FormatError.Throw(Structure, entry.HeaderOffset, $"invalid symbolic link target for '{entry.Name}'");
        }

        entry.LinkName = DiskImage.FileSystems.UnixPathEncoding.GetString(target);
    }

    private static CpioFormat ParseHeader(ReadOnlySpan<byte> header, long offset, Span<uint> fields)
    {
        CpioFormat format = CpioHeader.DetectMagic(header);
        if (format == 0)
        {
            string message = header[..6].SequenceEqual("070707"u8)
                ? "odc (070707) archives are not accepted by the kernel; expected newc (070701) or crc (070702)"
                : "no cpio magic (expected 070701 or 070702)";
            FormatError.Throw(Structure, offset, message);
        }

        if (!CpioHeader.TryParseFields(header, fields))
        {
            FormatError.Throw(Structure, offset, "non-hex digit in a numeric field");
        }

        uint nameSize = fields[CpioHeader.NameSize];
        if (nameSize < 2 || nameSize > CpioLimits.MaxNameSize)
        {
            FormatError.Throw(Structure, offset, $"name size {nameSize} outside 2..{CpioLimits.MaxNameSize}");
        }

        uint type = fields[CpioHeader.Mode] & 0xF000;
        if (type == (uint)CpioEntryType.SymbolicLink && fields[CpioHeader.FileSize] > CpioLimits.MaxLinkTargetLength + 1)
        {
            FormatError.Throw(Structure, offset, $"symbolic link target of {fields[CpioHeader.FileSize]} bytes exceeds PATH_MAX");
        }

        return format;
    }

    private static CpioEntry CreateEntry(CpioFormat format, ReadOnlySpan<uint> f, ReadOnlySpan<byte> rawName, long headerOffset)
    {
        if (rawName[^1] != 0)
        {
            FormatError.Throw(Structure, headerOffset, "name is not NUL-terminated");
        }

        int nul = rawName.IndexOf((byte)0);
        if (nul == 0)
        {
            FormatError.Throw(Structure, headerOffset, "empty name");
        }

        string name = DiskImage.FileSystems.UnixPathEncoding.GetString(rawName[..nul]);
        var type = (CpioEntryType)(f[CpioHeader.Mode] & 0xF000);
        if (name == CpioLimits.TrailerName)
        {
            type = CpioEntryType.RegularFile; // GNU cpio writes the trailer with mode 0
        }
        else if (!Enum.IsDefined(type))
        {
            FormatError.Throw(Structure, headerOffset, $"unknown file type 0x{(uint)type:X}");
        }

        var entry = new CpioEntry(type, name)
        {
            Format = format,
            Mode = (UnixFileMode)(f[CpioHeader.Mode] & 0xFFF),
            Uid = f[CpioHeader.Uid],
            Gid = f[CpioHeader.Gid],
            NLink = f[CpioHeader.NLink],
            Inode = f[CpioHeader.Ino],
            ModificationTimeSeconds = f[CpioHeader.MTime],
            DevMajor = f[CpioHeader.DevMajor],
            DevMinor = f[CpioHeader.DevMinor],
            RDevMajor = f[CpioHeader.RDevMajor],
            RDevMinor = f[CpioHeader.RDevMinor],
            Checksum = f[CpioHeader.Check],
            NamePadding = rawName.Length - nul - 1,
            HeaderOffset = headerOffset,
        };
        entry.RawLength = f[CpioHeader.FileSize];
        return entry;
    }
}
