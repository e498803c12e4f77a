using System.Buffers;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// The data of the current entry, read straight from the archive. Verifies the crc format's
/// checksum once the data has been consumed, and skips the padding that follows the data.
/// </summary>
internal sealed class CpioDataStream : Stream
{
    private readonly ArchiveInput _input;
    private readonly CpioEntry _entry;
    private readonly bool _verify;
    private readonly long _length;
    private long _read;
    private uint _sum;
    private bool _finished;

    public CpioDataStream(ArchiveInput input, CpioEntry entry, bool verifyChecksum)
    {
        _input = input;
        _entry = entry;
        _length = entry.RawLength;
        _verify = verifyChecksum && entry.Format == CpioFormat.Crc && entry.EntryType == CpioEntryType.RegularFile;
    }

    public override bool CanRead => !_finished;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        long left = _length - _read;
        if (left <= 0 || buffer.IsEmpty)
        {
            return 0;
        }

        if (buffer.Length > left)
        {
            buffer = buffer[..(int)left];
        }

        int n = _input.Read(buffer);
        return Account(buffer[..n], n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        long left = _length - _read;
        if (left <= 0 || buffer.IsEmpty)
        {
            return 0;
        }

        if (buffer.Length > left)
        {
            buffer = buffer[..(int)left];
        }

        int n = await _input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n], n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Consumes the remaining data and the padding after it.</summary>
    public void SkipToEnd()
    {
        if (_finished)
        {
            return;
        }

        byte[] scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (Read(scratch) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        SkipPadding();
    }

    /// <inheritdoc cref="SkipToEnd"/>
    public async ValueTask SkipToEndAsync(CancellationToken cancellationToken)
    {
        if (_finished)
        {
            return;
        }

        byte[] scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (await ReadAsync(scratch, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        int pad = CpioHeader.PadTo4(_input.Position);
        if (pad > 0 && !await _input.EnsureAsync(pad, cancellationToken).ConfigureAwait(false))
        {
            FormatError.Throw("cpio entry", _entry.HeaderOffset, "archive ends inside the padding after the data");
        }

        _input.Advance(pad);
        _finished = true;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void SkipPadding()
    {
        int pad = CpioHeader.PadTo4(_input.Position);
        if (pad > 0 && !_input.Ensure(pad))
        {
            FormatError.Throw("cpio entry", _entry.HeaderOffset, "archive ends inside the padding after the data");
        }

        _input.Advance(pad);
        _finished = true;
    }

    private int Account(ReadOnlySpan<byte> data, int n)
    {
        if (n == 0)
        {
            FormatError.Throw("cpio entry", _entry.HeaderOffset, $"archive ends inside the data of '{_entry.Name}' ({_read} of {_length} bytes)");
        }

        _read += n;
        if (_verify)
        {
            _sum = CpioHeader.Sum(_sum, data);
            if (_read == _length && _sum != _entry.Checksum)
            {
                FormatError.Throw("cpio entry", _entry.HeaderOffset, $"checksum mismatch for '{_entry.Name}': header 0x{_entry.Checksum:X8}, data 0x{_sum:X8}");
            }
        }

        return n;
    }
}
