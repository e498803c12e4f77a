using System.Buffers;
using System.Runtime.ExceptionServices;
using DiskImage.IO;

namespace DiskImage.Conversion;

/// <summary>
/// The copy engine shared by <see cref="BlockCopier"/> and <see cref="ImageConverter"/>. Worker
/// threads take the next unit of the source in order (a zero range the source reports, or a
/// unit-sized piece to read), read and inspect it (zero detection, compression) into one of a
/// fixed ring of pooled slots; the calling thread commits the slots to the target strictly in source
/// order. The ring bounds memory to a few units regardless of the source size.
/// </summary>
internal sealed class CopyPipeline : IDisposable
{
    private const int Empty = 0;
    private const int Busy = 1;
    private const int Ready = 2;
    private const int End = 3;
    private const long MaxRingBytes = 64L * 1024 * 1024;

    private readonly BlockDevice _source;
    private readonly CopySink _sink;
    private readonly int _unit;
    private readonly bool _fullyAllocate;
    private readonly int _workers;
    private readonly IProgress<ConvertProgress>? _progress;
    private readonly CancellationToken _cancellationToken;
    private readonly long _total;
    private readonly CopySlot[] _ring;

    // Hand-offs wake only the thread that can proceed: the writer waits on the ready event of the
    // one slot it commits next; workers wait for a free-slot permit, which the writer returns after
    // each commit. Workers take units in order under _dispatchGate, which only they contend for.
    private readonly ManualResetEventSlim[] _ready;
    private readonly object _dispatchGate = new();

    // Free-slot permits. A plain monitor with Pulse (one waiter woken per permit) rather than
    // SemaphoreSlim, whose spin-before-block calls sched_yield dozens of times per wait: costly
    // when the writer is the bottleneck on a busy machine.
    private readonly object _freeGate = new();
    private int _freeCount;

    // Guarded by _dispatchGate.
    private long _nextOffset;
    private long _dispatched;
    private bool _ended;
    private AllocationExtent _extent;

    private bool _stop;
    private ExceptionDispatchInfo? _error;

    public CopyPipeline(BlockDevice source, CopySink sink, int unit, int sparseSize, int workers, IProgress<ConvertProgress>? progress, CancellationToken cancellationToken)
    {
        _source = source;
        _sink = sink;
        _unit = unit;
        _fullyAllocate = sparseSize == 0;
        _workers = Math.Max(1, workers);
        _progress = progress;
        _cancellationToken = cancellationToken;
        _total = source.Length;

        // Inline mode needs one slot; otherwise enough for every worker to hold one while the writer drains others.
        int slots = _workers == 1 ? 1 : (int)Math.Clamp(MaxRingBytes / ((long)unit + sink.ScratchSize), 3, (2 * _workers) + 2);
        int runPairs = sink.BlockSize > 0 ? (unit / sink.BlockSize) + 1 : 1;
        _ring = new CopySlot[slots];
        for (int i = 0; i < slots; i++)
        {
            _ring[i] = new CopySlot(
                ArrayPool<byte>.Shared.Rent(unit),
                sink.ScratchSize > 0 ? ArrayPool<byte>.Shared.Rent(sink.ScratchSize) : null,
                new int[2 * runPairs]);
        }

        _ready = new ManualResetEventSlim[slots];
        for (int i = 0; i < slots; i++)
        {
            // Little spinning: on a busy machine a blocked waiter costs less than a spinning one.
            _ready[i] = new ManualResetEventSlim(false, spinCount: 1);
        }

        _freeCount = slots;
    }

    /// <summary>The unit for a plain copy: the chunk size rounded up to a multiple of the sparse block size.</summary>
    public static int PlainUnit(int chunkSize, int sparseSize) =>
        sparseSize <= 0 ? chunkSize : checked((Math.Max(chunkSize, sparseSize) + sparseSize - 1) / sparseSize * sparseSize);

    public void Run()
    {
        _cancellationToken.ThrowIfCancellationRequested();
        _progress?.Report(new ConvertProgress(0, _total));
        if (_total == 0)
        {
            return;
        }

        if (_workers == 1)
        {
            RunInline();
            return;
        }

        using CancellationTokenRegistration registration = _cancellationToken.UnsafeRegister(
            static state => ((CopyPipeline)state!).Stop(), this);

        var threads = new Thread[_workers];
        for (int i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(static state => ((CopyPipeline)state!).WorkerLoop())
            {
                IsBackground = true,
                Name = "DiskImage copy worker",
            };
            threads[i].Start(this);
        }

        try
        {
            WriterLoop();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
            throw;
        }
        finally
        {
            Stop();
            foreach (Thread t in threads)
            {
                t.Join();
            }
        }
    }

    /// <summary>One thread does everything in turn: no hand-offs, for single-core use.</summary>
    private void RunInline()
    {
        long reportStep = Math.Max(_total / 200, 1);
        long lastReported = 0;
        CopySlot slot = _ring[0];
        while (_nextOffset < _total)
        {
            _cancellationToken.ThrowIfCancellationRequested();
            Dispatch(slot);
            if (slot.IsZeroRange)
            {
                _sink.CommitZero(slot.Offset, slot.Length);
            }
            else
            {
                _source.ReadExactly(slot.Offset, slot.Buffer.AsSpan(0, (int)slot.Length));
                _sink.Process(slot);
                _sink.Commit(slot);
            }

            long end = slot.Offset + slot.Length;
            if (_progress is not null && end - lastReported >= reportStep && end < _total)
            {
                lastReported = end;
                _progress.Report(new ConvertProgress(end, _total));
            }
        }

        _progress?.Report(new ConvertProgress(_total, _total));
    }

    private void Stop()
    {
        Volatile.Write(ref _stop, true);

        // Wake every waiter; each re-checks _stop.
        lock (_freeGate)
        {
            Monitor.PulseAll(_freeGate);
        }

        foreach (ManualResetEventSlim ready in _ready)
        {
            ready.Set();
        }
    }

    private void Fail(Exception ex)
    {
        Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
        Stop();
    }

    private void WriterLoop()
    {
        long reportStep = Math.Max(_total / 200, 1);
        long lastReported = 0;
        long sequence = 0;
        while (true)
        {
            int index = (int)(sequence % _ring.Length);
            CopySlot slot = _ring[index];
            ManualResetEventSlim ready = _ready[index];
            ready.Wait();
            Volatile.Read(ref _error)?.Throw();
            _cancellationToken.ThrowIfCancellationRequested();
            int state = Volatile.Read(ref slot.State);
            if (slot.Sequence != sequence || state is not (Ready or End))
            {
                if (Volatile.Read(ref _stop))
                {
                    throw new InvalidOperationException("The copy stopped unexpectedly.");
                }

                continue;
            }

            ready.Reset();
            if (state == End)
            {
                // Everything has been dispatched and committed.
                _progress?.Report(new ConvertProgress(_total, _total));
                return;
            }

            if (slot.IsZeroRange)
            {
                _sink.CommitZero(slot.Offset, slot.Length);
            }
            else
            {
                _sink.Commit(slot);
            }

            long end = slot.Offset + slot.Length;
            Volatile.Write(ref slot.State, Empty);
            sequence++;
            lock (_freeGate)
            {
                _freeCount++;
                Monitor.Pulse(_freeGate);
            }

            if (_progress is not null && end - lastReported >= reportStep && end < _total)
            {
                lastReported = end;
                _progress.Report(new ConvertProgress(end, _total));
            }
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            // A permit means the slot of the next sequence number has been committed and emptied:
            // at most ring-length units are dispatched ahead of the writer.
            lock (_freeGate)
            {
                while (_freeCount == 0 && !Volatile.Read(ref _stop))
                {
                    Monitor.Wait(_freeGate);
                }

                if (Volatile.Read(ref _stop))
                {
                    return;
                }

                _freeCount--;
            }

            CopySlot slot;
            int index;
            lock (_dispatchGate)
            {
                if (Volatile.Read(ref _stop) || _ended)
                {
                    return;
                }

                index = (int)(_dispatched % _ring.Length);
                slot = _ring[index];
                if (_nextOffset >= _total)
                {
                    // The first worker to find the end tells the writer with the next slot in order.
                    _ended = true;
                    slot.Sequence = _dispatched;
                    Volatile.Write(ref slot.State, End);
                    _ready[index].Set();
                    return;
                }

                try
                {
                    Dispatch(slot);
                }
                catch (Exception ex)
                {
                    Fail(ex);
                    return;
                }

                slot.Sequence = _dispatched++;
                slot.State = Busy;
            }

            try
            {
                if (!slot.IsZeroRange)
                {
                    _cancellationToken.ThrowIfCancellationRequested();
                    Span<byte> data = slot.Buffer.AsSpan(0, (int)slot.Length);
                    _source.ReadExactly(slot.Offset, data);
                    _sink.Process(slot);
                }
            }
            catch (OperationCanceledException)
            {
                Stop();
                return;
            }
            catch (Exception ex)
            {
                Fail(ex);
                return;
            }

            Volatile.Write(ref slot.State, Ready);
            _ready[index].Set();
        }
    }

    /// <summary>Assigns the next unit to <paramref name="slot"/>; called under the lock.</summary>
    private void Dispatch(CopySlot slot)
    {
        long p = _nextOffset;
        long unitEnd = Math.Min(p + _unit, _total);
        if (!_fullyAllocate)
        {
            if (p >= _extent.End)
            {
                _extent = _source.GetAllocation(p, _total - p);
            }

            if (_extent.Kind != AllocationKind.Data && _extent.End >= unitEnd)
            {
                // Whole units inside a zero/unallocated extent: one zero range, nothing read.
                long zeroEnd = _extent.End >= _total ? _total : p + ((_extent.End - p) / _unit * _unit);
                slot.SetZeroRange(p, zeroEnd - p);
                _nextOffset = zeroEnd;
                return;
            }
        }

        slot.SetData(p, (int)(unitEnd - p));
        _nextOffset = unitEnd;
    }

    public void Dispose()
    {
        foreach (CopySlot slot in _ring)
        {
            slot.Release();
        }

        foreach (ManualResetEventSlim ready in _ready)
        {
            ready.Dispose();
        }

    }
}
