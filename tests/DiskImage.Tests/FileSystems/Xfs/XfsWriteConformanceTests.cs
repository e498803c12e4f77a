using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>The write conformance suite over a writable XFS file system freshly made by <see cref="XfsFileSystem.Format"/>.</summary>
public sealed class XfsWriteConformanceTests : FileSystemWriteConformanceTests
{
    /// <summary>XFS keeps sysv-encoded device numbers: minors up to 2^18 - 1.</summary>
    protected override (int Major, int Minor) LargeDevice => (259, 262143);

    protected override IFileSystem CreateEmpty()
    {
        var device = new MemoryBlockDevice(64 << 20);
        XfsFileSystem.Format(device, new XfsFormatOptions { Profile = XfsFormatProfile.Debian12 });
        return XfsFileSystem.Open(device, new XfsOpenOptions { Writable = true });
    }
}
