using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>The conformance tree written on the host and packed by <c>mke2fs -d</c> (e2fsprogs 1.47) into a default ext4 image.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4ConformanceImage : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Lazy<byte[]> _image;

    public Ext4ConformanceImage()
    {
        _image = new Lazy<byte[]>(() =>
        {
            string src = Path.Combine(_temp.Path, "src");
            Directory.CreateDirectory(src);
            ConformanceTree.WriteToHost(src);
            return Ext4TestImages.Build(src, _temp.File("conf.img"), 4096, "-t", "ext4");
        });
    }

    public byte[] Image => _image.Value;

    public void Dispose() => _temp.Dispose();
}

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4ReadConformanceTests(Ext4ConformanceImage image) : FileSystemReadConformanceTests, IClassFixture<Ext4ConformanceImage>
{
    protected override bool PreservesOwners => HostFiles.IsRoot;

    protected override bool PreservesNanoseconds => false;

    protected override IFileSystem OpenPopulated()
    {
        Skip.IfNot(HostFiles.IsRoot, "Building the source tree needs root (lchown).");
        return Ext4TestImages.Open(image.Image);
    }
}
