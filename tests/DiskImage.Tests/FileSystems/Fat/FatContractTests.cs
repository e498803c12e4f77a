using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// The <see cref="IFileSystem"/> write conformance cases whose semantics FAT has (the shared suite also
/// creates symlinks, hard links, devices, owners and xattrs, which FAT cannot store), plus the documented
/// mapping of what it cannot represent.
/// </summary>
public sealed class FatContractTests
{
    [Fact]
    public void FileOperations_BehaveAsTheContractSays()
    {
        using FatFileSystem fs = Create();
        byte[] data = ConformanceTree.PatternContent(10_000, 7);
        ConformanceTree.Write(fs, "/f", data);
        Assert.Equal(data, ConformanceTree.ReadAll(fs, "/f"));
        Assert.Equal(((UnixFileMode)0x1ED, 10_000L, 1), (fs.GetEntry("/f").Mode, fs.GetEntry("/f").Size, fs.GetEntry("/f").LinkCount));

        using (Stream s = fs.OpenFile("/sparse", FileMode.CreateNew, FileAccess.ReadWrite))
        {
            s.Position = 5000;
            s.WriteByte(7);
            s.SetLength(6000);
        }

        byte[] sparse = ConformanceTree.ReadAll(fs, "/sparse");
        Assert.Equal((6000, 7, 1), (sparse.Length, (int)sparse[5000], sparse.Count(b => b != 0)));

        ConformanceTree.Write(fs, "/t", [1, 2, 3, 4, 5]);
        using (Stream s = fs.OpenFile("/t", FileMode.Open, FileAccess.Write))
        {
            s.SetLength(2);
            s.SetLength(4);
        }

        Assert.Equal(new byte[] { 1, 2, 0, 0 }, ConformanceTree.ReadAll(fs, "/t"));
        using (Stream s = fs.OpenFile("/t", FileMode.Append, FileAccess.Write))
        {
            s.Write([9]);
            Assert.Throws<IOException>(() => s.Seek(0, SeekOrigin.Begin));
        }

        Assert.Equal(new byte[] { 1, 2, 0, 0, 9 }, ConformanceTree.ReadAll(fs, "/T"));
        Assert.Throws<IOException>(() => fs.OpenFile("/F", FileMode.CreateNew, FileAccess.Write));
        Assert.Throws<FileNotFoundException>(() => fs.OpenFile("/g", FileMode.Truncate, FileAccess.Write));
        Assert.Throws<DirectoryNotFoundException>(() => fs.OpenFile("/no/f", FileMode.Create, FileAccess.Write));
        Assert.Throws<UnauthorizedAccessException>(() => fs.OpenFile("/", FileMode.Open, FileAccess.Read));
    }

    [Fact]
    public void Directories_CreateDeleteRename_BehaveAsTheContractSays()
    {
        using FatFileSystem fs = Create();
        fs.CreateDirectory("/a");
        Assert.Equal(2, fs.GetEntry("/a").LinkCount);
        fs.CreateDirectory("/a/b");
        fs.CreateDirectory("/a/c");
        Assert.Equal(4, fs.GetEntry("/a").LinkCount);
        Assert.Throws<IOException>(() => fs.CreateDirectory("/A"));
        Assert.Throws<IOException>(() => fs.Delete("/a"));
        fs.Delete("/a/c");
        Assert.Equal(3, fs.GetEntry("/a").LinkCount);

        ConformanceTree.Write(fs, "/x", [1]);
        ConformanceTree.Write(fs, "/y", [2]);
        fs.Rename("/x", "/y");
        Assert.False(fs.Exists("/x"));
        Assert.Equal(new byte[] { 1 }, ConformanceTree.ReadAll(fs, "/y"));
        fs.Rename("/y", "/Y");
        Assert.Equal("Y", Assert.Single(fs.EnumerateDirectory("/"), e => !e.IsDirectory).Name);

        ConformanceTree.Write(fs, "/a/b/f", [3]);
        fs.CreateDirectory("/d2");
        fs.Rename("/a/b", "/d2/moved");
        Assert.Equal(new byte[] { 3 }, ConformanceTree.ReadAll(fs, "/d2/moved/f"));
        Assert.Equal(3, fs.GetEntry("/d2").LinkCount);
        fs.CreateDirectory("/d2/moved/inner");
        Assert.Throws<IOException>(() => fs.Rename("/D2", "/d2/MOVED/inner/x"));
        Assert.Throws<IOException>(() => fs.Rename("/d2", "/Y"));
        Assert.Throws<FileNotFoundException>(() => fs.Rename("/nope", "/z"));
    }

    [Fact]
    public void Unrepresentable_RefusedOrMappedAsDocumented()
    {
        using FatFileSystem fs = Create();
        ConformanceTree.Write(fs, "/f", [1]);
        Assert.Throws<NotSupportedException>(() => fs.CreateSymbolicLink("/l", "f"));
        Assert.Throws<NotSupportedException>(() => fs.CreateHardLink("/h", "/f"));
        Assert.Throws<NotSupportedException>(() => fs.CreateDevice("/d", UnixFileType.CharacterDevice, 1, 3));
        Assert.Throws<NotSupportedException>(() => fs.CreateFifo("/p"));
        Assert.Throws<NotSupportedException>(() => fs.CreateSocket("/s"));
        Assert.Throws<NotSupportedException>(() => fs.SetXattr("/f", "user.a", "1"u8));
        Assert.Empty(fs.GetXattrs("/f"));
        Assert.False(fs.RemoveXattr("/f", "user.a"));
        Assert.Throws<ArgumentException>(() => fs.OpenFile("/a:b", FileMode.Create, FileAccess.Write));

        fs.SetOwner("/f", 1000, 1000);
        Assert.Equal((0u, 0u), (fs.GetEntry("/f").UserId, fs.GetEntry("/f").GroupId));
        fs.SetMode("/f", (UnixFileMode)0x124); // 0444
        Assert.Equal((UnixFileMode)0x16D, fs.GetEntry("/f").Mode);
        Assert.Equal(FatAttributes.ReadOnly | FatAttributes.Archive, fs.GetAttributes("/f"));
        fs.SetMode("/f", (UnixFileMode)0x1A4);
        Assert.Equal((UnixFileMode)0x1ED, fs.GetEntry("/f").Mode);
        fs.SetAttributes("/f", FatAttributes.Hidden | FatAttributes.System);
        Assert.Equal(FatAttributes.Hidden | FatAttributes.System, fs.GetAttributes("/f"));

        var t = new UnixTime(1_700_000_001, 999_999_999);
        fs.SetTimes("/f", t, t);
        UnixFileInfo e = fs.GetEntry("/f");
        Assert.Equal(new UnixTime(1_700_000_000, 0), e.ModificationTime);
        Assert.Equal(e.ModificationTime, e.ChangeTime);
        Assert.Equal(new UnixTime(1_700_000_001 - (1_700_000_001 % 86400), 0), e.AccessTime);
    }

    [Fact]
    public void ReadOnlyOpen_RefusesChanges()
    {
        var dev = new MemoryBlockDevice(8 << 20);
        FatFileSystem.Format(dev);
        using FatFileSystem fs = FatFileSystem.Open(dev);
        Assert.True(fs.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => fs.CreateDirectory("/d"));
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/f", FileMode.Create, FileAccess.Write));
    }

    private static FatFileSystem Create()
    {
        var dev = new MemoryBlockDevice(8 << 20);
        FatFileSystem.Format(dev);
        return FatFileSystem.Open(dev, new FatOpenOptions { Writable = true });
    }
}
