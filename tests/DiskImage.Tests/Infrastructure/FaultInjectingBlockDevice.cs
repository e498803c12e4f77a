using DiskImage.IO;

namespace DiskImage.Tests.Infrastructure;

/// <summary>
/// Wraps a device and simulates a crash: the first <see cref="FailAfter"/> mutating operations
/// (writes, zero writes, length changes and, when <see cref="CountFlushes"/> is set, flushes) go
/// through; every later one throws <see cref="IOException"/> without touching the inner device.
/// Reads always go through, so the state left behind can be inspected.
/// </summary>
/// <remarks>
/// Typical use: run a write sequence once with <see cref="FailAfter"/> = <see cref="long.MaxValue"/>
/// (a dry run) and read <see cref="OperationCount"/>; then, for every N in [0, count), run it again
/// on a fresh copy with <c>FailAfter = N</c> and check what the inner device holds.
/// </remarks>
public sealed class FaultInjectingBlockDevice : BlockDevice
{
    private readonly BlockDevice _inner;
    private readonly bool _leaveOpen;
    private long _operations;
    private long _failAfter;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The device that receives the operations that are let through.</param>
    /// <param name="failAfter">How many mutating operations succeed before the failures start.</param>
    /// <param name="countFlushes">Whether flushes count as (and fail like) mutating operations.</param>
    /// <param name="leaveOpen">Whether disposing this wrapper leaves <paramref name="inner"/> open.</param>
    public FaultInjectingBlockDevice(BlockDevice inner, long failAfter = long.MaxValue, bool countFlushes = true, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfNegative(failAfter);
        _inner = inner;
        _failAfter = failAfter;
        CountFlushes = countFlushes;
        _leaveOpen = leaveOpen;
    }

    /// <summary>The wrapped device.</summary>
    public BlockDevice Inner => _inner;

    /// <summary>Number of mutating operations allowed to succeed; later ones throw.</summary>
    public long FailAfter
    {
        get => Interlocked.Read(ref _failAfter);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            Interlocked.Exchange(ref _failAfter, value);
        }
    }

    /// <summary>
    /// When non-zero, the write that fails is torn rather than dropped: its first
    /// <c>TornWriteBytes</c> bytes (at most the whole buffer) reach the inner device before the
    /// failure, as after a crash in the middle of a multi-sector write. Use a multiple of 512 to
    /// keep sector-atomic semantics. Default 0.
    /// </summary>
    public int TornWriteBytes { get; set; }

    /// <summary>Whether flushes are counted and failed.</summary>
    public bool CountFlushes { get; }

    /// <summary>Mutating operations attempted so far (successful and failed).</summary>
    public long OperationCount => Interlocked.Read(ref _operations);

    /// <summary>Number of operations that were refused with an injected failure.</summary>
    public long FailedOperationCount { get; private set; }

    /// <summary>Whether an injected failure has happened.</summary>
    public bool HasFailed => FailedOperationCount > 0;

    /// <summary>Number of writes (including zero writes) that reached the inner device.</summary>
    public long WriteCount { get; private set; }

    /// <summary>Number of flushes that reached the inner device.</summary>
    public long FlushCount { get; private set; }

    /// <summary>Number of length changes that reached the inner device.</summary>
    public long SetLengthCount { get; private set; }

    /// <inheritdoc />
    public override long Length => _inner.Length;

    /// <inheritdoc />
    public override bool CanWrite => _inner.CanWrite;

    /// <inheritdoc />
    public override bool CanSetLength => _inner.CanSetLength;

    /// <summary>Resets the counters and sets a new failure point.</summary>
    public void Reset(long failAfter = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(failAfter);
        Interlocked.Exchange(ref _operations, 0);
        Interlocked.Exchange(ref _failAfter, failAfter);
        FailedOperationCount = 0;
        WriteCount = 0;
        FlushCount = 0;
        SetLengthCount = 0;
    }

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => _inner.ReadExactly(offset, buffer);

    /// <inheritdoc />
    protected override ValueTask<int> ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inner.ReadAsync(offset, buffer, cancellationToken);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        if (!TryAdmit())
        {
            if (TornWriteBytes > 0)
            {
                _inner.Write(offset, buffer[..Math.Min(TornWriteBytes, buffer.Length)]);
            }

            Fail("write", offset, buffer.Length);
        }

        _inner.Write(offset, buffer);
        WriteCount++;
    }

    /// <inheritdoc />
    protected override async ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!TryAdmit())
        {
            if (TornWriteBytes > 0)
            {
                await _inner.WriteAsync(offset, buffer[..Math.Min(TornWriteBytes, buffer.Length)], cancellationToken).ConfigureAwait(false);
            }

            Fail("write", offset, buffer.Length);
        }

        await _inner.WriteAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
        WriteCount++;
    }

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length)
    {
        Admit("zero write", offset, length);
        _inner.WriteZeroes(offset, length);
        WriteCount++;
    }

    /// <inheritdoc />
    protected override void SetLengthCore(long length)
    {
        Admit("set length", length, 0);
        _inner.SetLength(length);
        SetLengthCount++;
    }

    /// <inheritdoc />
    protected override void FlushCore()
    {
        if (CountFlushes)
        {
            Admit("flush", -1, 0);
        }

        _inner.Flush();
        FlushCount++;
    }

    /// <inheritdoc />
    protected override async ValueTask FlushCoreAsync(CancellationToken cancellationToken)
    {
        if (CountFlushes)
        {
            Admit("flush", -1, 0);
        }

        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        FlushCount++;
    }

    /// <inheritdoc />
    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => _inner.GetAllocation(offset, maxLength);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_leaveOpen)
        {
            _inner.Dispose();
        }
    }

    private void Admit(string operation, long offset, long length)
    {
        if (!TryAdmit())
        {
            Fail(operation, offset, length);
        }
    }

    private bool TryAdmit() => Interlocked.Increment(ref _operations) <= Interlocked.Read(ref _failAfter);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string operation, long offset, long length)
    {
        FailedOperationCount++;
        throw new IOException($"Injected failure: {operation} #{OperationCount} (offset {offset}, length {length}) after {FailAfter} permitted operations.");
    }
}
