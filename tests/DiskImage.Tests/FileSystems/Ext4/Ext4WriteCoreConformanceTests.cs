using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>The write conformance suite over a writable ext4 file system freshly made by <see cref="Ext4FileSystem.Format"/>.</summary>
public sealed class Ext4WriteCoreConformanceTests : FileSystemWriteConformanceTests
{
    protected override IFileSystem CreateEmpty()
    {
        var device = new MemoryBlockDevice(32 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { JournalBlocks = 1024 });
        return Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
    }
}
