namespace DiskImage.IO;

/// <summary>A device backed by a byte array in memory. Convenient for tests and small images.</summary>
public sealed class MemoryBlockDevice : BlockDevice
{
    private byte[] _data;
    private readonly bool _writable;

    /// <summary>Creates a zero-filled writable device of <paramref name="length"/> bytes.</summary>
    public MemoryBlockDevice(int length)
        : this(new byte[length], writable: true)
    {
    }

    /// <summary>Wraps <paramref name="data"/> without copying it.</summary>
    public MemoryBlockDevice(byte[] data, bool writable = true)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        _writable = writable;
    }

    /// <inheritdoc />
    public override long Length => _data.Length;

    /// <inheritdoc />
    public override bool CanWrite => _writable;

    /// <inheritdoc />
    public override bool CanSetLength => _writable;

    /// <summary>The bytes of the device (live, not a copy; replaced when the length changes).</summary>
    public Span<byte> Data => _data;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) =>
        _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) =>
        buffer.CopyTo(_data.AsSpan((int)offset));

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length) =>
        _data.AsSpan((int)offset, (int)length).Clear();

    /// <inheritdoc />
    protected override void SetLengthCore(long length)
    {
        if (length > Array.MaxLength)
        {
            throw new NotSupportedException($"A memory device cannot hold {length} bytes.");
        }

        byte[] resized = new byte[length];
        _data.AsSpan(0, (int)Math.Min(length, _data.Length)).CopyTo(resized);
        _data = resized;
    }

    /// <inheritdoc />
    protected override void FlushCore()
    {
    }
}
