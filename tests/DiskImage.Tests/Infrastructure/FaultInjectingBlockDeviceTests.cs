using DiskImage.IO;

namespace DiskImage.Tests.Infrastructure;

public class FaultInjectingBlockDeviceTests
{
    [Fact]
    public void Write_AfterLimit_ThrowsAndLeavesInnerUntouched()
    {
        using var inner = new MemoryBlockDevice(4096);
        using var device = new FaultInjectingBlockDevice(inner, failAfter: 2, leaveOpen: true);
        device.Write(0, [1]);
        device.WriteZeroes(1, 1);
        Assert.Throws<IOException>(() => device.Write(2, [3]));
        Assert.Throws<IOException>(() => device.Flush());
        Assert.Throws<IOException>(() => device.SetLength(10));
        Assert.Equal(0, inner.Data[2]);
        Assert.Equal(4096, inner.Length);
        Assert.Equal(5, device.OperationCount);
        Assert.Equal(3, device.FailedOperationCount);
        Assert.Equal(2, device.WriteCount);
        Assert.True(device.HasFailed);
    }

    [Fact]
    public void DryRun_CountsOperations_ThenResetFailsAtEachPoint()
    {
        static void Sequence(BlockDevice d)
        {
            d.Write(0, [1, 2]);
            d.Flush();
            d.SetLength(8192);
            d.WriteZeroes(100, 50);
        }

        using var dry = new FaultInjectingBlockDevice(new MemoryBlockDevice(4096));
        Sequence(dry);
        Assert.Equal(4, dry.OperationCount);
        Assert.False(dry.HasFailed);
        for (int n = 0; n < dry.OperationCount; n++)
        {
            using var run = new FaultInjectingBlockDevice(new MemoryBlockDevice(4096), failAfter: n);
            Assert.Throws<IOException>(() => Sequence(run));
            Assert.Equal(n + 1, run.OperationCount);
        }
    }

    [Fact]
    public void Write_TornWriteBytes_WritesPrefixBeforeFailing()
    {
        using var inner = new MemoryBlockDevice(4096);
        using var device = new FaultInjectingBlockDevice(inner, failAfter: 0, leaveOpen: true) { TornWriteBytes = 512 };
        Assert.Throws<IOException>(() => device.Write(0, Enumerable.Repeat((byte)7, 2048).ToArray()));
        Assert.Equal(-1, inner.Data[..512].IndexOfAnyExcept((byte)7));
        Assert.Equal(-1, inner.Data[512..].IndexOfAnyExcept((byte)0));
    }

    [Fact]
    public void Flush_NotCounted_WhenCountFlushesIsFalse()
    {
        using var device = new FaultInjectingBlockDevice(new MemoryBlockDevice(10), failAfter: 0, countFlushes: false);
        device.Flush();
        Assert.Equal(0, device.OperationCount);
        Assert.Equal(1, device.FlushCount);
    }
}
