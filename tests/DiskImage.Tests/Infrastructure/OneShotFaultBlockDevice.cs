using DiskImage.IO;

namespace DiskImage.Tests.Infrastructure;

/// <summary>
/// Wraps a device and fails exactly one mutating operation (write, zero write or flush): the one numbered
/// <see cref="FailAt"/> (0-based), with an <see cref="IOException"/> and without touching the inner device. Every
/// other operation goes through, so a caller can retry or carry on (a transient device error). With
/// <see cref="Persistent"/>, every mutating operation from that one on fails (a device gone bad, or a process killed
/// at that point: the inner device holds what was written before it).
/// </summary>
public sealed class OneShotFaultBlockDevice(BlockDevice inner, long failAt = long.MaxValue) : BlockDevice
{
    /// <summary>The wrapped device.</summary>
    public BlockDevice Inner => inner;

    /// <summary>Number of the operation that fails.</summary>
    public long FailAt { get; set; } = failAt;

    /// <summary>Whether every operation from <see cref="FailAt"/> on fails, not just that one.</summary>
    public bool Persistent { get; set; }

    /// <summary>Mutating operations attempted so far.</summary>
    public long OperationCount { get; private set; }

    /// <summary>Whether the failure has been injected.</summary>
    public bool HasFailed { get; private set; }

    /// <inheritdoc />
    public override long Length => inner.Length;

    /// <inheritdoc />
    public override bool CanWrite => inner.CanWrite;

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => inner.ReadExactly(offset, buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        Admit("write", offset);
        inner.Write(offset, buffer);
    }

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length)
    {
        Admit("zero write", offset);
        inner.WriteZeroes(offset, length);
    }

    /// <inheritdoc />
    protected override void FlushCore()
    {
        Admit("flush", -1);
        inner.Flush();
    }

    private void Admit(string operation, long offset)
    {
        long number = OperationCount++;
        if (number == FailAt || (Persistent && number > FailAt))
        {
            HasFailed = true;
            throw new IOException($"Injected failure: {operation} #{number} (offset {offset}).");
        }
    }
}
