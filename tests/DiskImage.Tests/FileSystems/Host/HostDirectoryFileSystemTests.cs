using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Host;

/// <summary>The conformance tree written to a host directory, read through <see cref="HostDirectoryFileSystem"/>.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HostDirectoryFileSystemConformanceTests : FileSystemReadConformanceTests, IDisposable
{
    private readonly TempDirectory _temp = new();

    protected override bool PreservesOwners => HostFiles.IsRoot;

    protected override IFileSystem OpenPopulated()
    {
        Skip.IfNot(HostFiles.IsRoot, "Writing the conformance tree needs root (lchown).");
        string root = Path.Combine(_temp.Path, "tree");
        if (!Directory.Exists(root))
        {
            Directory.CreateDirectory(root);
            ConformanceTree.WriteToHost(root);
        }

        return new HostDirectoryFileSystem(root);
    }

    public void Dispose() => _temp.Dispose();
}

/// <summary>The conformance tree built into ext4 by <see cref="Ext4FileSystem.Build(BlockDevice, string, Ext4BuildOptions?)"/> and read back with the reader (nanoseconds kept).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4BuiltConformanceTests : FileSystemReadConformanceTests, IDisposable
{
    private readonly TempDirectory _temp = new();

    protected override bool PreservesOwners => HostFiles.IsRoot;

    protected override IFileSystem OpenPopulated()
    {
        Skip.IfNot(HostFiles.IsRoot, "Writing the conformance tree needs root (lchown).");
        string root = Path.Combine(_temp.Path, "tree");
        Directory.CreateDirectory(root);
        ConformanceTree.WriteToHost(root);
        var device = new MemoryBlockDevice(16 << 20);
        Ext4FileSystem.Build(device, root);
        return Ext4FileSystem.Open(device);
    }

    public void Dispose() => _temp.Dispose();
}

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HostDirectoryFileSystemTests
{
    [Fact]
    public void GetEntry_File_ReportsNanosecondTimesInodeAndLinks()
    {
        using var temp = new TempDirectory();
        string f = temp.File("a");
        File.WriteAllText(f, "abc");
        HostFiles.Link(f, temp.File("b"));
        var t = new UnixTime(1_234_567_890, 987_654_321);
        HostFiles.SetTimes(f, t, t);
        using var fs = new HostDirectoryFileSystem(temp.Path);
        UnixFileInfo a = fs.GetEntry("/a");
        UnixFileInfo b = fs.GetEntry("/b");
        Assert.Equal(UnixFileType.RegularFile, a.Type);
        Assert.Equal(3, a.Size);
        Assert.Equal(2, a.LinkCount);
        Assert.Equal(a.Inode, b.Inode);
        Assert.Equal(t, a.ModificationTime);
        Assert.Equal(t, a.AccessTime);
    }

    [Fact]
    public void GetXattrs_UserAttributes_Returned()
    {
        using var temp = new TempDirectory();
        string f = temp.File("x");
        File.WriteAllText(f, "x");
        try
        {
            HostFiles.SetXattr(f, "user.k", [1, 2, 3]);
        }
        catch (IOException)
        {
            Skip.If(true, "The temporary directory's file system has no user xattrs.");
        }

        using var fs = new HostDirectoryFileSystem(temp.Path);
        IReadOnlyDictionary<string, byte[]> x = fs.GetXattrs("/x");
        Assert.Equal([1, 2, 3], x["user.k"]);
    }

    [Fact]
    public void Resolve_AbsoluteSymlink_StaysInsideRoot()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.File("etc"));
        File.WriteAllText(temp.File("etc/hostname"), "inside\n");
        File.CreateSymbolicLink(temp.File("link"), "/etc");
        using var fs = new HostDirectoryFileSystem(temp.Path);
        Assert.Equal("/etc", fs.GetEntry("/link").LinkTarget);
        Assert.Equal("inside\n"u8.ToArray(), ConformanceTree.ReadAll(fs, "/link/hostname"));
        Assert.Equal(["hostname"], fs.EnumerateDirectory("/link").Select(e => e.Name));
    }

    [Fact]
    public void Changes_Refused_NotSupported()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("f"), "f");
        using var fs = new HostDirectoryFileSystem(temp.Path);
        Assert.True(fs.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => fs.CreateDirectory("/d"));
        Assert.Throws<NotSupportedException>(() => fs.Delete("/f"));
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite));
        Assert.True(File.Exists(temp.File("f")));
    }

    [Fact]
    public void Constructor_MissingDirectory_Throws()
    {
        using var temp = new TempDirectory();
        Assert.Throws<DirectoryNotFoundException>(() => new HostDirectoryFileSystem(temp.File("nope")));
    }
}
