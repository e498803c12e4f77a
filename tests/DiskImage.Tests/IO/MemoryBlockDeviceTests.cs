using DiskImage.IO;

namespace DiskImage.Tests.IO;

public class MemoryBlockDeviceTests
{
    [Fact]
    public void Read_AcrossEnd_ReturnsPartialCount()
    {
        using var device = new MemoryBlockDevice(100);
        device.Write(90, new byte[] { 1, 2, 3 });
        var buffer = new byte[20];
        Assert.Equal(10, device.Read(90, buffer));
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer[..3]);
        Assert.Equal(0, device.Read(100, buffer));
    }
}
