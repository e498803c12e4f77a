using DiskImage.Conversion;
using DiskImage.IO;
using DiskImage.Tests.Infrastructure;

namespace DiskImage.Tests.Conversion;

public sealed class BlockCopierTests : IDisposable
{
    private const int Seed = 4242;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    internal static byte[] MakeContent(int length, int seed, int zeroRunMax = 300_000)
    {
        var rng = new Random(seed);
        var data = new byte[length];
        rng.NextBytes(data);
        int pos = 0;
        while (pos < length)
        {
            int run = rng.Next(1, zeroRunMax);
            if (rng.Next(2) == 0)
            {
                data.AsSpan(pos, Math.Min(run, length - pos)).Clear();
            }

            pos += run;
        }

        return data;
    }

    [Theory]
    [InlineData(1, 4096, 1 << 20, 3_000_001)]
    [InlineData(2, 512, 65536, 1_000_000)]
    [InlineData(4, 0, 1 << 20, 2_500_000)]
    [InlineData(3, 65536, 4096, 777_777)]
    [InlineData(2, 4096, 1 << 20, 0)]
    public void Copy_IntoDirtyTarget_TargetEqualsSource(int workers, int sparseSize, int chunkSize, int length)
    {
        byte[] content = MakeContent(length, Seed + length);
        using var source = new MemoryBlockDevice(content, writable: false);
        var garbage = new byte[length + 100];
        new Random(Seed).NextBytes(garbage);
        using var target = new MemoryBlockDevice(garbage);
        BlockCopier.Copy(source, target, new BlockCopyOptions { MaxDegreeOfParallelism = workers, SparseSize = sparseSize, ChunkSize = chunkSize });
        int diff = content.AsSpan().CommonPrefixLength(target.Data[..length]);
        Assert.True(diff == length, $"differs at {diff} (seed {Seed + length})");
        Assert.Equal(garbage.AsSpan(length).ToArray(), target.Data[length..].ToArray());
    }

    [SkippableFact]
    public void Copy_SparseFileToNewFile_SkipsHolesAndZeroBlocks()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Allocation is visible on Linux only.");
        const long Length = 256L << 20;
        string src = _temp.File("src.raw");
        string dst = _temp.File("dst.raw");
        byte[] data = MakeContent(1 << 20, Seed, zeroRunMax: 20_000);
        using (var s = FileBlockDevice.Create(src, Length))
        {
            s.Write(10L << 20, data);
            s.Write(100L << 20, new byte[4 << 20]); // allocated, but zeros
            s.Write(Length - data.Length, data);
        }

        using var source = FileBlockDevice.Open(src);
        using (var target = FileBlockDevice.Create(dst, Length))
        {
            BlockCopier.Copy(source, target, new BlockCopyOptions { TargetIsZero = true });
            Assert.True(target.AllocatedSize <= 2 * data.Length, $"allocated {target.AllocatedSize}");
        }

        using var copy = FileBlockDevice.Open(dst);
        Assert.Null(ImageComparer.FindFirstDifference(source, copy, strict: true));
    }

    [SkippableFact]
    public void Copy_SparseSizeZero_AllocatesEverything()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Allocation is visible on Linux only.");
        const long Length = 8L << 20;
        string src = _temp.File("src.raw");
        string dst = _temp.File("dst.raw");
        using (FileBlockDevice.Create(src, Length))
        {
        }

        using var source = FileBlockDevice.Open(src);
        using var target = FileBlockDevice.Create(dst, Length);
        BlockCopier.Copy(source, target, new BlockCopyOptions { TargetIsZero = true, SparseSize = 0 });
        Assert.True(target.AllocatedSize >= Length, $"allocated {target.AllocatedSize}");
    }

    [Fact]
    public void Copy_DirtyTargetAndZeroSource_ZeroesTarget()
    {
        using var source = new ZeroBlockDevice(5_000_000);
        var garbage = new byte[5_000_000];
        new Random(Seed).NextBytes(garbage);
        using var target = new MemoryBlockDevice(garbage);
        BlockCopier.Copy(source, target);
        Assert.Equal(-1, target.Data.IndexOfAnyExcept((byte)0));
    }

    [Fact]
    public void Copy_Progress_IsMonotonicAndEndsAtTotal()
    {
        byte[] content = MakeContent(10_000_000, Seed);
        using var source = new MemoryBlockDevice(content, writable: false);
        using var target = new MemoryBlockDevice(content.Length);
        var reports = new List<ConvertProgress>();
        BlockCopier.Copy(source, target, new BlockCopyOptions { TargetIsZero = true, ChunkSize = 65536 }, new SyncProgress(reports.Add));
        Assert.True(reports.Count >= 3);
        Assert.Equal(new ConvertProgress(0, content.Length), reports[0]);
        Assert.Equal(new ConvertProgress(content.Length, content.Length), reports[^1]);
        for (int i = 1; i < reports.Count; i++)
        {
            Assert.True(reports[i].Processed >= reports[i - 1].Processed, $"report {i} went backwards");
        }
    }

    [Fact]
    public void Copy_CancelledMidway_ThrowsOperationCanceled()
    {
        byte[] content = MakeContent(20_000_000, Seed);
        using var source = new MemoryBlockDevice(content, writable: false);
        using var target = new MemoryBlockDevice(content.Length);
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Processed > 2_000_000)
            {
                cts.Cancel();
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            BlockCopier.Copy(source, target, new BlockCopyOptions { ChunkSize = 65536 }, progress, cts.Token));
    }

    [Fact]
    public async Task CopyAsync_PreCancelled_ThrowsWithoutWriting()
    {
        using var source = new MemoryBlockDevice(Enumerable.Repeat((byte)1, 1000).ToArray());
        using var target = new MemoryBlockDevice(1000);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => BlockCopier.CopyAsync(source, target, cancellationToken: new CancellationToken(true)));
        Assert.Equal(-1, target.Data.IndexOfAnyExcept((byte)0));
    }

    [Fact]
    public async Task CopyAsync_Content_Copied()
    {
        byte[] content = MakeContent(3_000_000, Seed + 1);
        using var source = new MemoryBlockDevice(content);
        using var target = new MemoryBlockDevice(content.Length);
        await BlockCopier.CopyAsync(source, target);
        Assert.True(content.AsSpan().SequenceEqual(target.Data));
    }

    [Fact]
    public void Copy_TargetFails_PropagatesIOException()
    {
        byte[] content = MakeContent(5_000_000, Seed + 2);
        using var source = new MemoryBlockDevice(content);
        using var target = new FaultInjectingBlockDevice(new MemoryBlockDevice(content.Length), failAfter: 3);
        Assert.Throws<IOException>(() => BlockCopier.Copy(source, target, new BlockCopyOptions { ChunkSize = 65536 }));
        Assert.True(target.HasFailed);
    }

    [Fact]
    public void Copy_InvalidArguments_Throw()
    {
        using var small = new MemoryBlockDevice(10);
        using var large = new MemoryBlockDevice(20);
        using var readOnly = new MemoryBlockDevice(new byte[30], writable: false);
        Assert.Throws<ArgumentException>(() => BlockCopier.Copy(large, small));
        Assert.Throws<ArgumentException>(() => BlockCopier.Copy(small, readOnly));
        Assert.Throws<ArgumentNullException>(() => BlockCopier.Copy(null!, small));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockCopyOptions { SparseSize = -1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockCopyOptions { MaxDegreeOfParallelism = 0 });
    }

    [Fact]
    public void Copy_UnevenReadLatency_WritesInSourceOrder()
    {
        byte[] content = MakeContent(6_000_000, Seed + 3);
        using var source = new JitterDevice(new MemoryBlockDevice(content));
        using var target = new OrderCheckingDevice(content.Length);
        BlockCopier.Copy(source, target, new BlockCopyOptions { ChunkSize = 65536, MaxDegreeOfParallelism = 4, TargetIsZero = true });
        Assert.True(content.AsSpan().SequenceEqual(target.Inner.Data), "content differs");
        Assert.True(target.Writes > 10);
    }

    /// <summary>Reads take a pseudo-random few milliseconds, so parallel readers finish out of order.</summary>
    private sealed class JitterDevice(BlockDevice inner) : BlockDevice
    {
        public override long Length => inner.Length;

        public override bool CanWrite => false;

        protected override void ReadCore(long offset, Span<byte> buffer)
        {
            Thread.Sleep((int)((offset * 2654435761L >>> 7) % 4));
            inner.ReadExactly(offset, buffer);
        }

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException();

        protected override void FlushCore()
        {
        }

        protected override void Dispose(bool disposing) => inner.Dispose();
    }

    /// <summary>Fails when a write starts before the end of the previous one.</summary>
    private sealed class OrderCheckingDevice(int length) : BlockDevice
    {
        private long _end;

        public MemoryBlockDevice Inner { get; } = new(length);

        public int Writes { get; private set; }

        public override long Length => Inner.Length;

        public override bool CanWrite => true;

        protected override void ReadCore(long offset, Span<byte> buffer) => Inner.ReadExactly(offset, buffer);

        protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
        {
            Assert.True(offset >= _end, $"write at {offset} after a write that ended at {_end}");
            _end = offset + buffer.Length;
            Writes++;
            Inner.Write(offset, buffer);
        }

        protected override void FlushCore()
        {
        }
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts asynchronously).</summary>
    internal sealed class SyncProgress(Action<ConvertProgress> report) : IProgress<ConvertProgress>
    {
        public void Report(ConvertProgress value) => report(value);
    }
}
