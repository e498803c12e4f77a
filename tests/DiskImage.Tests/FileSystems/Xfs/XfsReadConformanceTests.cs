using DiskImage.FileSystems;
using DiskImage.IO;
using DiskImage.FileSystems.Xfs;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>The conformance tree written by the kernel into an image made by <c>mkfs.xfs</c> (xfsprogs 6.1 defaults).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsConformanceImage : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Lazy<byte[]> _image;

    public XfsConformanceImage()
    {
        _image = new Lazy<byte[]>(() =>
        {
            string image = _temp.File("conf.img");
            XfsTestImages.Format(image);
            XfsTestImages.Fill(image, _temp.File("rw"), ConformanceTree.WriteToHost);
            return File.ReadAllBytes(image);
        });
    }

    public byte[] Image => _image.Value;

    public void Dispose() => _temp.Dispose();
}

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsReadConformanceTests(XfsConformanceImage image) : FileSystemReadConformanceTests, IClassFixture<XfsConformanceImage>
{
    protected override IFileSystem OpenPopulated()
    {
        Oracle.Require("mkfs.xfs");
        Ext4KernelMount.Require();
        return XfsFileSystem.Open(new MemoryBlockDevice(image.Image, writable: false));
    }
}
