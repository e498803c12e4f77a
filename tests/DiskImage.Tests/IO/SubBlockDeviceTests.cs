using DiskImage.IO;

namespace DiskImage.Tests.IO;

public class SubBlockDeviceTests
{
    [Fact]
    public void Constructor_WindowPastParentEnd_Throws()
    {
        using var parent = new MemoryBlockDevice(100);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubBlockDevice(parent, 50, 51));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubBlockDevice(parent, 101, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubBlockDevice(parent, -1, 1));
        using var ok = new SubBlockDevice(parent, 100, 0);
        Assert.Equal(0, ok.Length);
    }

    [Fact]
    public void Constructor_WritableOverReadOnlyParent_Throws()
    {
        using var parent = new MemoryBlockDevice(new byte[100], writable: false);
        Assert.Throws<ArgumentException>(() => new SubBlockDevice(parent, 0, 10, writable: true));
    }

    [Fact]
    public void Write_WholeWindow_LeavesOutsideUntouched()
    {
        byte[] backing = Enumerable.Repeat((byte)0xFF, 300).ToArray();
        using var parent = new MemoryBlockDevice(backing);
        using var window = new SubBlockDevice(parent, 100, 100);
        window.Write(0, new byte[100]);
        window.WriteZeroes(0, 100);
        Assert.Throws<ArgumentOutOfRangeException>(() => window.Write(1, new byte[100]));
        Assert.Equal(-1, backing.AsSpan(0, 100).IndexOfAnyExcept((byte)0xFF));
        Assert.Equal(-1, backing.AsSpan(100, 100).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, backing.AsSpan(200).IndexOfAnyExcept((byte)0xFF));
    }

    [Fact]
    public void GetAllocation_ClipsParentExtentsToWindow()
    {
        using var parent = new ZeroBlockDevice(1000);
        using var window = new SubBlockDevice(parent, 300, 400);
        AllocationExtent e = window.GetAllocation(0, long.MaxValue);
        Assert.Equal(new AllocationExtent(0, 400, AllocationKind.Zero), e);
    }

    [Fact]
    public void Dispose_LeaveOpenFalse_DisposesParent()
    {
        var parent = new MemoryBlockDevice(10);
        new SubBlockDevice(parent, 0, 10, leaveOpen: false).Dispose();
        Assert.Throws<ObjectDisposedException>(() => parent.Read(0, new byte[1]));
    }
}
