using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Tests.Formats;

public sealed class ImageInfoTests
{
    [Fact]
    public void ToString_Qcow2WithBacking_OneReadableLine()
    {
        var info = new ImageInfo
        {
            FileName = "overlay.qcow2",
            Format = DiskImageFormat.Qcow2,
            VirtualSize = 1L << 30,
            ClusterSize = 65536,
            BackingFileName = "base.qcow2",
        };
        Assert.Equal("overlay.qcow2: qcow2, 1073741824 bytes, cluster 65536, backing 'base.qcow2'", info.ToString());
    }

    [Fact]
    public void ToString_CreatedImage_NamesNoCollectionType()
    {
        using var temp = new TempDirectory();
        string path = temp.File("disk.qcow2");
        using Qcow2Image image = Qcow2Image.Create(path, 64L << 20);
        string text = image.GetInfo().ToString();
        Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
        Assert.Equal($"{path}: qcow2, 67108864 bytes, cluster 65536", text);
    }
}
