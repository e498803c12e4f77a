using DiskImage.IO;

namespace DiskImage.Tests.Conformance;

/// <summary>
/// The contract every <see cref="BlockDevice"/> implementation keeps. A test class per
/// implementation inherits this and supplies a factory and capability flags; every test here then
/// runs against it.
/// </summary>
public abstract class BlockDeviceConformanceTests : IDisposable
{
    /// <summary>Fixed seed for the randomized tests; printed in failure messages.</summary>
    protected const int Seed = 20261127;

    /// <summary>A scratch directory for implementations that need files; removed on dispose.</summary>
    protected TempDirectory Temp { get; } = new();

    /// <summary>Length used by most tests. Not a multiple of 4096 on purpose, so partial tails are exercised.</summary>
    protected virtual long DefaultLength => (1 << 20) + 1536;

    /// <summary>Whether devices from <see cref="CreateDevice"/> are writable.</summary>
    protected virtual bool IsWritable => true;

    /// <summary>Whether <see cref="CreateDevice"/> honours <c>initialContent</c>; when false, devices read as zeros.</summary>
    protected virtual bool SupportsInitialContent => true;

    /// <summary>Whether the implementation documents that writers may run concurrently (on disjoint ranges).</summary>
    protected virtual bool SupportsConcurrentWriters => false;

    /// <summary>Granularity of lengths accepted by <see cref="BlockDevice.SetLength(long)"/> (qcow2: 512).</summary>
    protected virtual int LengthGranularity => 1;

    /// <summary>Whether <see cref="BlockDevice.SetLength(long)"/> may cut off data (qcow2 shrinks only over unallocated tails).</summary>
    protected virtual bool CanShrinkOverData => true;

    /// <summary>Whether <see cref="CreateReadOnlyDevice"/> is implemented.</summary>
    protected virtual bool SupportsReadOnly => true;

    /// <summary>
    /// Creates a device of <paramref name="length"/> bytes holding <paramref name="initialContent"/>
    /// (zeros when null). Writable when <see cref="IsWritable"/>. The test disposes it.
    /// </summary>
    protected abstract BlockDevice CreateDevice(long length, byte[]? initialContent);

    /// <summary>Creates a read-only device holding <paramref name="content"/>; default: not supported.</summary>
    protected virtual BlockDevice CreateReadOnlyDevice(byte[] content) =>
        throw new SkipException($"{GetType().Name} has no read-only variant.");

    /// <summary>
    /// Called after the write tests, with the device still open: a format can have its on-disk
    /// structures judged here (e.g. by <c>qemu-img check</c>). Default: nothing.
    /// </summary>
    protected virtual void AssertDeviceSound(BlockDevice device, string context)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Removes the scratch directory.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Temp.Dispose();
        }
    }

    /// <summary>Random content with runs of zeros, so sparse detection and allocation are exercised.</summary>
    protected static byte[] MakeContent(long length, int seed)
    {
        var rng = new Random(seed);
        var data = new byte[length];
        rng.NextBytes(data);
        long pos = 0;
        while (pos < length)
        {
            long run = rng.Next(1, 200_000);
            if (rng.Next(3) == 0)
            {
                data.AsSpan((int)pos, (int)Math.Min(run, length - pos)).Clear();
            }

            pos += run;
        }

        return data;
    }

    private (BlockDevice Device, byte[] Expected) CreateWithContent(long length, int seed)
    {
        if (!SupportsInitialContent)
        {
            return (CreateDevice(length, null), new byte[length]);
        }

        byte[] content = MakeContent(length, seed);
        return (CreateDevice(length, (byte[])content.Clone()), content);
    }

    private static void AssertContent(BlockDevice device, byte[] expected, string context)
    {
        Assert.Equal(expected.LongLength, device.Length);
        var actual = new byte[expected.Length];
        device.ReadExactly(0, actual);
        AssertSame(expected, actual, 0, context);
    }

    private static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, long baseOffset, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        int common = expected.CommonPrefixLength(actual);
        if (common != expected.Length)
        {
            Assert.Fail($"{context}: content differs at offset {baseOffset + common} (expected {expected[common]}, actual {actual[common]}); seed {Seed}.");
        }
    }

    private void SkipUnlessWritable() => Skip.IfNot(IsWritable, $"{GetType().Name} devices are read-only.");

    // ---- length, bounds ----

    [SkippableFact]
    public void Length_NewDevice_IsRequestedLength()
    {
        using BlockDevice device = CreateDevice(DefaultLength, null);
        Assert.Equal(DefaultLength, device.Length);
        Assert.Equal(IsWritable, device.CanWrite);
    }

    [SkippableFact]
    public void Read_NegativeOffset_ThrowsArgumentOutOfRange()
    {
        using BlockDevice device = CreateDevice(DefaultLength, null);
        var buffer = new byte[16];
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Read(-1, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.ReadExactly(-1, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.ReadAsync(-1, buffer); });
        Assert.Throws<ArgumentOutOfRangeException>(() => device.GetAllocation(-1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.EnumerateAllocation(-1, 10));
    }

    [SkippableFact]
    public void Write_NegativeOffset_ThrowsArgumentOutOfRange()
    {
        SkipUnlessWritable();
        using BlockDevice device = CreateDevice(DefaultLength, null);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Write(-1, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.WriteZeroes(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.WriteZeroes(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.WriteAsync(-1, new byte[1]); });
    }

    [SkippableFact]
    public void Read_AcrossEnd_ReturnsPartialCount()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed);
        using (device)
        {
            var buffer = new byte[4096];
            long offset = DefaultLength - 100;
            Assert.Equal(100, device.Read(offset, buffer));
            AssertSame(expected.AsSpan((int)offset), buffer.AsSpan(0, 100), offset, "partial read");
            Assert.Equal(0, device.Read(DefaultLength, buffer));
            Assert.Equal(0, device.Read(DefaultLength + 12345, buffer));
            Assert.Equal(0, device.Read(long.MaxValue, buffer));
        }
    }

    [SkippableFact]
    public async Task ReadAsync_AcrossEnd_ReturnsPartialCount()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed);
        await using (device)
        {
            var buffer = new byte[4096];
            long offset = DefaultLength - 100;
            Assert.Equal(100, await device.ReadAsync(offset, buffer));
            AssertSame(expected.AsSpan((int)offset), buffer.AsSpan(0, 100), offset, "partial async read");
            Assert.Equal(0, await device.ReadAsync(DefaultLength, buffer));
        }
    }

    [SkippableFact]
    public void ReadExactly_AcrossEnd_ThrowsEndOfStream()
    {
        using BlockDevice device = CreateDevice(DefaultLength, null);
        Assert.Throws<EndOfStreamException>(() => device.ReadExactly(DefaultLength - 10, new byte[11]));
        Assert.Throws<EndOfStreamException>(() => device.ReadExactly(DefaultLength + 1, new byte[1]));
        device.ReadExactly(DefaultLength - 10, new byte[10]);
    }

    [SkippableFact]
    public void Write_AcrossEnd_ThrowsArgumentOutOfRangeAndChangesNothing()
    {
        SkipUnlessWritable();
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed);
        using (device)
        {
            byte[] data = Enumerable.Repeat((byte)0xAB, 64).ToArray();
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Write(DefaultLength - 63, data));
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Write(DefaultLength + 1, data));
            Assert.Throws<ArgumentOutOfRangeException>(() => device.Write(long.MaxValue, data));
            Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.WriteAsync(DefaultLength - 1, data); });
            Assert.Throws<ArgumentOutOfRangeException>(() => device.WriteZeroes(DefaultLength - 10, 11));
            Assert.Throws<ArgumentOutOfRangeException>(() => device.WriteZeroes(1, long.MaxValue));
            Assert.Equal(DefaultLength, device.Length);
            AssertContent(device, expected, "after refused writes");
        }
    }

    [SkippableFact]
    public void ZeroLength_Operations_Succeed()
    {
        using BlockDevice device = CreateDevice(DefaultLength, null);
        Assert.Equal(0, device.Read(0, Span<byte>.Empty));
        Assert.Equal(0, device.Read(DefaultLength, Span<byte>.Empty));
        device.ReadExactly(DefaultLength, Span<byte>.Empty);
        if (device.CanWrite)
        {
            device.Write(0, ReadOnlySpan<byte>.Empty);
            device.Write(DefaultLength, ReadOnlySpan<byte>.Empty);
            device.WriteZeroes(DefaultLength, 0);
            device.WriteZeroes(5, 0);
        }

        Assert.Equal(DefaultLength, device.Length);
    }

    // ---- content ----

    [SkippableFact]
    public void Read_InitialContent_MatchesInOddChunks()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed + 1);
        using (device)
        {
            var rng = new Random(Seed);
            var buffer = new byte[70_000];
            long pos = 0;
            while (pos < expected.Length)
            {
                int n = rng.Next(1, buffer.Length);
                int got = device.Read(pos, buffer.AsSpan(0, n));
                Assert.Equal((int)Math.Min(n, expected.Length - pos), got);
                AssertSame(expected.AsSpan((int)pos, got), buffer.AsSpan(0, got), pos, "chunked read");
                pos += got;
            }
        }
    }

    [SkippableFact]
    public void Read_ConcurrentRandomReaders_SeeContent()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed + 2);
        using (device)
        {
            Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
            {
                var rng = new Random(Seed + worker);
                var buffer = new byte[65536];
                for (int i = 0; i < 200; i++)
                {
                    long offset = rng.NextInt64(0, expected.Length);
                    int n = rng.Next(1, buffer.Length);
                    int got = device.Read(offset, buffer.AsSpan(0, n));
                    Assert.Equal((int)Math.Min(n, expected.Length - offset), got);
                    AssertSame(expected.AsSpan((int)offset, got), buffer.AsSpan(0, got), offset, $"concurrent reader {worker}, read {i}");
                }
            });
        }
    }

    [SkippableFact]
    public void Write_RandomSequence_ReadsBack()
    {
        SkipUnlessWritable();
        (BlockDevice device, byte[] model) = CreateWithContent(DefaultLength, Seed + 3);
        using (device)
        {
            var rng = new Random(Seed);
            for (int i = 0; i < 300; i++)
            {
                long offset = rng.NextInt64(0, model.Length);
                int n = (int)Math.Min(rng.Next(1, 100_000), model.Length - offset);
                int op = rng.Next(4);
                if (op == 0)
                {
                    device.WriteZeroes(offset, n);
                    model.AsSpan((int)offset, n).Clear();
                }
                else
                {
                    var data = new byte[n];
                    rng.NextBytes(data);
                    device.Write(offset, data);
                    data.CopyTo(model.AsSpan((int)offset));
                }

                if (i % 50 == 0)
                {
                    AssertContent(device, model, $"after operation {i}");
                }
            }

            device.Flush();
            AssertContent(device, model, "after the sequence");
            AssertDeviceSound(device, "random write sequence");
        }
    }

    [SkippableFact]
    public void Write_ConcurrentWritersAndReaders_DisjointStripesReadBack()
    {
        SkipUnlessWritable();
        Skip.IfNot(SupportsConcurrentWriters, $"{GetType().Name} serializes writers.");
        const int Stripe = 24_576; // not cluster aligned: neighbouring writers share clusters and tables
        (BlockDevice device, byte[] model) = CreateWithContent(DefaultLength, Seed + 12);
        using (device)
        {
            int stripes = (int)((model.Length + Stripe - 1) / Stripe);
            byte[] initial = (byte[])model.Clone();
            Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
            {
                var rng = new Random(Seed + worker);
                var readBuffer = new byte[Stripe];
                for (int s = worker; s < stripes; s += 4)
                {
                    int offset = s * Stripe;
                    int length = Math.Min(Stripe, model.Length - offset);
                    Span<byte> target = model.AsSpan(offset, length);
                    if (rng.Next(4) == 0)
                    {
                        device.WriteZeroes(offset, length);
                        target.Clear();
                    }
                    else
                    {
                        rng.NextBytes(target);
                        device.Write(offset, target);
                    }

                    // Read back a stripe that another worker may be writing: it holds either the old or the new bytes of each write.
                    int other = (s + 1) % stripes;
                    int otherLength = Math.Min(Stripe, model.Length - (other * Stripe));
                    device.ReadExactly(other * Stripe, readBuffer.AsSpan(0, otherLength));
                    device.ReadExactly(offset, readBuffer.AsSpan(0, length));
                    AssertSame(target, readBuffer.AsSpan(0, length), offset, $"worker {worker} stripe {s}");
                }
            });

            AssertContent(device, model, "after concurrent writers");
            AssertAllocationConsistent(device, model, "after concurrent writers");
            AssertDeviceSound(device, "concurrent writers");
        }
    }

    [SkippableFact]
    public void WriteZeroes_AlignedAndUnaligned_ReadAsZeros()
    {
        SkipUnlessWritable();
        (BlockDevice device, byte[] model) = CreateWithContent(DefaultLength, Seed + 4);
        using (device)
        {
            (long Offset, long Length)[] ranges = [(0, 4096), (4096 * 3 + 1, 10_000), (65536, 65536 * 4), (DefaultLength - 777, 777), (1, 1)];
            foreach ((long offset, long length) in ranges)
            {
                device.WriteZeroes(offset, length);
                model.AsSpan((int)offset, (int)length).Clear();
            }

            AssertContent(device, model, "after zero writes");
            device.WriteZeroes(0, DefaultLength);
            AssertContent(device, new byte[DefaultLength], "after zeroing everything");
        }
    }

    // ---- allocation ----

    private static void AssertAllocationConsistent(BlockDevice device, byte[] expected, string context)
    {
        long pos = 0;
        foreach (AllocationExtent e in device.EnumerateAllocation())
        {
            Assert.True(e.Offset == pos, $"{context}: extent {e} does not start at {pos}.");
            Assert.True(e.Length > 0, $"{context}: empty extent {e}.");
            if (e.Kind is AllocationKind.Zero or AllocationKind.Unallocated)
            {
                int nonZero = expected.AsSpan((int)e.Offset, (int)e.Length).IndexOfAnyExcept((byte)0);
                Assert.True(nonZero < 0, $"{context}: {e} reports zeros but byte {e.Offset + nonZero} is not zero (seed {Seed}).");
            }

            pos = e.End;
        }

        Assert.Equal(device.Length, pos);

        // Single queries from odd offsets stay within the asked range.
        var rng = new Random(Seed);
        for (int i = 0; i < 50 && device.Length > 0; i++)
        {
            long offset = rng.NextInt64(0, device.Length);
            long max = rng.NextInt64(1, 300_000);
            AllocationExtent e = device.GetAllocation(offset, max);
            Assert.Equal(offset, e.Offset);
            Assert.InRange(e.Length, 1, Math.Min(max, device.Length - offset));
        }
    }

    [SkippableFact]
    public void GetAllocation_InitialContent_CoversDeviceAndMatchesContent()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed + 5);
        using (device)
        {
            AssertAllocationConsistent(device, expected, "initial");
        }
    }

    [SkippableFact]
    public void GetAllocation_AfterWritesAndZeroes_MatchesContent()
    {
        SkipUnlessWritable();
        using BlockDevice device = CreateDevice(DefaultLength, null);
        var model = new byte[DefaultLength];
        AssertAllocationConsistent(device, model, "empty");
        var rng = new Random(Seed + 6);
        for (int i = 0; i < 40; i++)
        {
            long offset = rng.NextInt64(0, model.Length);
            int n = (int)Math.Min(rng.Next(1, 200_000), model.Length - offset);
            if (rng.Next(3) == 0)
            {
                device.WriteZeroes(offset, n);
                model.AsSpan((int)offset, n).Clear();
            }
            else
            {
                var data = new byte[n];
                rng.NextBytes(data);
                device.Write(offset, data);
                data.CopyTo(model.AsSpan((int)offset));
            }
        }

        AssertAllocationConsistent(device, model, "after writes");
        AssertContent(device, model, "after writes");
        AssertDeviceSound(device, "writes and zero writes");
    }

    [SkippableFact]
    public void GetAllocation_InvalidArguments_Throw()
    {
        using BlockDevice device = CreateDevice(DefaultLength, null);
        Assert.Throws<ArgumentOutOfRangeException>(() => device.GetAllocation(DefaultLength, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.GetAllocation(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.EnumerateAllocation(0, DefaultLength + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.EnumerateAllocation(10, long.MaxValue));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.EnumerateAllocation(DefaultLength + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.GetAllocation(long.MaxValue, long.MaxValue));
        Assert.Empty(device.EnumerateAllocation(DefaultLength, 0));
        AllocationExtent whole = device.GetAllocation(DefaultLength - 1, long.MaxValue);
        Assert.Equal(1, whole.Length);
    }

    // ---- stream adapter ----

    [SkippableFact]
    public void AsStream_SeekReadWrite_FollowsDevice()
    {
        (BlockDevice device, byte[] model) = CreateWithContent(DefaultLength, Seed + 7);
        using (device)
        {
            using Stream stream = device.AsStream(leaveOpen: true);
            Assert.True(stream.CanSeek);
            Assert.True(stream.CanRead);
            Assert.Equal(device.CanWrite, stream.CanWrite);
            Assert.Equal(DefaultLength, stream.Length);

            stream.Seek(-50, SeekOrigin.End);
            var buffer = new byte[200];
            Assert.Equal(50, stream.Read(buffer, 0, buffer.Length));
            AssertSame(model.AsSpan(model.Length - 50), buffer.AsSpan(0, 50), model.Length - 50, "stream tail");
            Assert.Equal(0, stream.Read(buffer, 0, buffer.Length));
            Assert.Equal(DefaultLength, stream.Position);

            stream.Position = 1000;
            stream.ReadExactly(buffer, 0, 100);
            AssertSame(model.AsSpan(1000, 100), buffer.AsSpan(0, 100), 1000, "stream read");
            Assert.Equal(1100, stream.Seek(0, SeekOrigin.Current));
            Assert.Throws<IOException>(() => stream.Seek(-1, SeekOrigin.Begin));

            if (device.CanWrite)
            {
                stream.Position = 12345;
                byte[] data = Enumerable.Range(0, 300).Select(i => (byte)(i * 7 + 1)).ToArray();
                stream.Write(data);
                data.CopyTo(model.AsSpan(12345));
                Assert.Equal(12345 + 300, stream.Position);
                stream.Flush();
                AssertContent(device, model, "after stream write");
            }
            else
            {
                Assert.Throws<NotSupportedException>(() => stream.Write(new byte[1]));
            }
        }

        Assert.Throws<ObjectDisposedException>(() => device.Read(0, new byte[1]));
    }

    [SkippableFact]
    public async Task AsStream_Async_CopiesWholeDevice()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed + 8);
        await using Stream stream = device.AsStream();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        AssertSame(expected, copy.ToArray(), 0, "stream copy");
    }

    // ---- async ----

    [SkippableFact]
    public async Task Async_WriteReadFlush_MatchesSync()
    {
        SkipUnlessWritable();
        (BlockDevice device, byte[] model) = CreateWithContent(DefaultLength, Seed + 9);
        await using (device)
        {
            var rng = new Random(Seed);
            for (int i = 0; i < 50; i++)
            {
                long offset = rng.NextInt64(0, model.Length);
                int n = (int)Math.Min(rng.Next(1, 50_000), model.Length - offset);
                var data = new byte[n];
                rng.NextBytes(data);
                await device.WriteAsync(offset, data);
                data.CopyTo(model.AsSpan((int)offset));
                var back = new byte[n];
                Assert.Equal(n, await device.ReadAsync(offset, back));
                AssertSame(data, back, offset, $"async write {i}");
            }

            await device.FlushAsync();
            AssertContent(device, model, "after async writes");
        }
    }

    [SkippableFact]
    public async Task Async_CancelledToken_ThrowsOperationCanceled()
    {
        await using BlockDevice device = CreateDevice(DefaultLength, null);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await device.ReadAsync(0, new byte[10], cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await device.FlushAsync(cts.Token));
        if (device.CanWrite)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await device.WriteAsync(0, new byte[10], cts.Token));
        }
    }

    // ---- disposal ----

    [SkippableFact]
    public void Dispose_ThenUse_ThrowsObjectDisposed()
    {
        BlockDevice device = CreateDevice(DefaultLength, null);
        device.Dispose();
        device.Dispose();
        var buffer = new byte[10];
        Assert.Throws<ObjectDisposedException>(() => device.Read(0, buffer));
        Assert.Throws<ObjectDisposedException>(() => device.ReadExactly(0, buffer));
        Assert.Throws<ObjectDisposedException>(() => { _ = device.ReadAsync(0, buffer); });
        Assert.Throws<ObjectDisposedException>(() => device.Write(0, buffer));
        Assert.Throws<ObjectDisposedException>(() => device.WriteZeroes(0, 1));
        Assert.Throws<ObjectDisposedException>(() => device.Flush());
        Assert.Throws<ObjectDisposedException>(() => device.GetAllocation(0, 1));
        Assert.Throws<ObjectDisposedException>(() => device.EnumerateAllocation());
    }

    [SkippableFact]
    public async Task DisposeAsync_Twice_IsHarmless()
    {
        BlockDevice device = CreateDevice(DefaultLength, null);
        await device.DisposeAsync();
        await device.DisposeAsync();
        device.Dispose();
        Assert.Throws<ObjectDisposedException>(() => device.Read(0, new byte[1]));
    }

    // ---- read-only ----

    [SkippableFact]
    public void ReadOnlyDevice_Writes_ThrowNotSupported()
    {
        Skip.IfNot(SupportsReadOnly, $"{GetType().Name} has no read-only variant.");
        byte[] content = SupportsInitialContent ? MakeContent(DefaultLength, Seed + 10) : new byte[DefaultLength];
        using BlockDevice device = CreateReadOnlyDevice((byte[])content.Clone());
        Assert.False(device.CanWrite);
        Assert.False(device.CanSetLength);
        Assert.Throws<NotSupportedException>(() => device.Write(0, new byte[1]));
        Assert.Throws<NotSupportedException>(() => device.WriteZeroes(0, 1));
        Assert.Throws<NotSupportedException>(() => { _ = device.WriteAsync(0, new byte[1]); });
        Assert.Throws<NotSupportedException>(() => device.SetLength(1));
        using (Stream s = device.AsStream(leaveOpen: true))
        {
            Assert.False(s.CanWrite);
        }

        AssertContent(device, content, "read-only device");
    }

    // ---- length changes ----

    [SkippableFact]
    public void SetLength_GrowAndShrink_KeepsPrefixAndZeroFillsGrowth()
    {
        (BlockDevice device, byte[] expected) = CreateWithContent(DefaultLength, Seed + 11);
        using (device)
        {
            if (!device.CanSetLength)
            {
                Assert.Throws<NotSupportedException>(() => device.SetLength(DefaultLength + 1));
                Assert.Equal(DefaultLength, device.Length);
                return;
            }

            long grown = (DefaultLength + 70_000) / LengthGranularity * LengthGranularity;
            device.SetLength(grown);
            Assert.Equal(grown, device.Length);
            var model = new byte[grown];
            expected.CopyTo(model, 0);
            AssertContent(device, model, "after grow");
            AssertAllocationConsistent(device, model, "after grow");

            long shrunk = CanShrinkOverData ? DefaultLength / 3 / LengthGranularity * LengthGranularity : DefaultLength;
            device.SetLength(shrunk);
            Assert.Equal(shrunk, device.Length);
            AssertContent(device, model.AsSpan(0, (int)shrunk).ToArray(), "after shrink");
            Assert.Throws<ArgumentOutOfRangeException>(() => device.SetLength(-1));
        }
    }
}
