using DiskImage.IO;

namespace DiskImage.Formats.Luks;

/// <summary>The decrypted payload of a raw LUKS image: guest byte 0 is the first payload byte.</summary>
internal sealed class LuksContentDevice : BlockDevice
{
    private readonly FileBlockDevice _file;
    private readonly LuksPayload _payload;
    private readonly long _payloadOffset;
    private readonly LuksHostWriter _writer;

    public LuksContentDevice(FileBlockDevice file, LuksPayload payload, long payloadOffset)
    {
        _file = file;
        _payload = payload;
        _payloadOffset = payloadOffset;
        _writer = file.Write;
    }

    /// <inheritdoc />
    public override long Length => Math.Max(0, _file.Length - _payloadOffset) & ~(LuksSectorCipher.SectorSize - 1L);

    /// <inheritdoc />
    public override bool CanWrite => _file.CanWrite;

    /// <inheritdoc />
    public override bool CanSetLength => _file.CanWrite;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => _payload.Read(_file, _payloadOffset + offset, buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => _payload.Write(_file, _payloadOffset + offset, buffer, _writer);

    /// <inheritdoc />
    protected override void SetLengthCore(long length)
    {
        if (length % LuksSectorCipher.SectorSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The size of a LUKS image must be a multiple of 512.");
        }

        _file.SetLength(_payloadOffset + length);
    }

    /// <inheritdoc />
    protected override void FlushCore() => _file.Flush();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _payload.Dispose();
        }
    }
}
