using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.InMemory;

public sealed class InMemoryFileSystemConformanceTests : FileSystemWriteConformanceTests
{
    protected override IFileSystem CreateEmpty() => new InMemoryFileSystem();
}

public sealed class InMemoryFileSystemReadOnlyConformanceTests : FileSystemReadConformanceTests
{
    protected override IFileSystem OpenPopulated()
    {
        var fs = new InMemoryFileSystem();
        ConformanceTree.Populate(fs);
        fs.MakeReadOnly();
        return fs;
    }
}
