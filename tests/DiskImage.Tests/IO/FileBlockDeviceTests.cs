using DiskImage.IO;

namespace DiskImage.Tests.IO;

public sealed class FileBlockDeviceTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableFact]
    public void GetAllocation_SparseFile_ReportsHolesAsZero()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "SEEK_DATA/SEEK_HOLE are used on Linux only.");
        string path = _temp.File("sparse.raw");
        const long Length = 64L << 20;
        using var device = FileBlockDevice.Create(path, Length);
        byte[] data = Enumerable.Repeat((byte)0x5A, 1 << 20).ToArray();
        device.Write(8L << 20, data);
        device.Write(Length - data.Length, data);

        AllocationExtent[] extents = device.EnumerateAllocation().ToArray();
        Assert.Equal(
            [
                new AllocationExtent(0, 8L << 20, AllocationKind.Zero, 0),
                new AllocationExtent(8L << 20, 1 << 20, AllocationKind.Data, 8L << 20),
                new AllocationExtent(9L << 20, Length - (10L << 20), AllocationKind.Zero, 9L << 20),
                new AllocationExtent(Length - (1 << 20), 1 << 20, AllocationKind.Data, Length - (1 << 20)),
            ],
            extents);
        Assert.InRange(device.AllocatedSize, 2 << 20, 3 << 20);
    }

    [SkippableFact]
    public void WriteZeroes_AllocatedRange_PunchesHole()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Hole punching is used on Linux only.");
        string path = _temp.File("punch.raw");
        using var device = FileBlockDevice.Create(path, 4 << 20);
        byte[] data = Enumerable.Repeat((byte)0xC3, 4 << 20).ToArray();
        device.Write(0, data);
        device.Flush();
        Assert.True(device.AllocatedSize >= 4 << 20);

        device.WriteZeroes(1 << 20, 2 << 20);
        Assert.InRange(device.AllocatedSize, 0, 2 << 20);
        AllocationExtent hole = device.GetAllocation(1 << 20, 4 << 20);
        Assert.Equal(AllocationKind.Zero, hole.Kind);
        Assert.Equal(2 << 20, hole.Length);
        var back = new byte[4 << 20];
        device.ReadExactly(0, back);
        Assert.Equal(-1, back.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)0xC3));
        Assert.Equal(-1, back.AsSpan(1 << 20, 2 << 20).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, back.AsSpan(3 << 20).IndexOfAnyExcept((byte)0xC3));
    }

    [SkippableFact]
    public void WriteZeroes_UnalignedRange_ZeroesExactlyThatRange()
    {
        string path = _temp.File("unaligned.raw");
        using var device = FileBlockDevice.Create(path, 20000);
        device.Write(0, Enumerable.Repeat((byte)1, 20000).ToArray());
        device.WriteZeroes(1001, 9000);
        var back = new byte[20000];
        device.ReadExactly(0, back);
        Assert.Equal(-1, back.AsSpan(0, 1001).IndexOfAnyExcept((byte)1));
        Assert.Equal(-1, back.AsSpan(1001, 9000).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, back.AsSpan(10001).IndexOfAnyExcept((byte)1));
    }

    [Fact]
    public void AllocatedSize_ReportsAgainstDu()
    {
        string path = _temp.File("size.raw");
        using var device = FileBlockDevice.Create(path, 100L << 20);
        device.Write(0, new byte[] { 1 });
        device.Flush();
        Assert.InRange(device.AllocatedSize, 1, 1 << 20);
        Assert.Equal(100L << 20, device.Length);
    }

    [Fact]
    public void Open_ReadOnly_RefusesWrites()
    {
        string path = _temp.File("ro.raw");
        File.WriteAllBytes(path, [1, 2, 3]);
        using var device = FileBlockDevice.Open(path);
        Assert.False(device.CanWrite);
        Assert.Throws<NotSupportedException>(() => device.Write(0, new byte[1]));
        Assert.Equal(Path.GetFullPath(path), device.Path);
    }
}
