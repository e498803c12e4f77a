using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems.Conformance;

/// <summary>
/// Write behaviour of writable <see cref="IFileSystem"/> implementations. Inherits the read suite,
/// populating the tree through the contract itself.
/// </summary>
public abstract class FileSystemWriteConformanceTests : FileSystemReadConformanceTests
{
    /// <summary>Returns an empty writable file system (only the root, maybe lost+found).</summary>
    protected abstract IFileSystem CreateEmpty();

    protected override IFileSystem OpenPopulated()
    {
        IFileSystem fs = CreateEmpty();
        ConformanceTree.Populate(fs);
        return fs;
    }

    [Fact]
    public void OpenFile_CreateWriteReopen_RoundTrips()
    {
        using IFileSystem fs = CreateEmpty();
        Assert.False(fs.IsReadOnly);
        byte[] data = ConformanceTree.PatternContent(10_000, 7);
        ConformanceTree.Write(fs, "/f", data);
        Assert.Equal(data, ConformanceTree.ReadAll(fs, "/f"));
        UnixFileInfo e = fs.GetEntry("/f");
        Assert.Equal((UnixFileMode)0x1A4, e.Mode);
        Assert.Equal(10_000, e.Size);
        Assert.Equal(1, e.LinkCount);
    }

    [Fact]
    public void OpenFile_SeekPastEndAndWrite_LeavesZeroHole()
    {
        using IFileSystem fs = CreateEmpty();
        using (Stream s = fs.OpenFile("/sparse", FileMode.CreateNew, FileAccess.ReadWrite))
        {
            s.Position = 5000;
            s.WriteByte(7);
            s.SetLength(6000);
        }

        byte[] all = ConformanceTree.ReadAll(fs, "/sparse");
        Assert.Equal(6000, all.Length);
        Assert.Equal(7, all[5000]);
        Assert.Equal(1, all.Count(b => b != 0));
    }

    [Fact]
    public void OpenFile_Truncate_ShrinksThenRegrowsWithZeros()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/f", [1, 2, 3, 4, 5]);
        using (Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Write))
        {
            s.SetLength(2);
            s.SetLength(4);
        }

        Assert.Equal(new byte[] { 1, 2, 0, 0 }, ConformanceTree.ReadAll(fs, "/f"));
    }

    [Fact]
    public void OpenFile_OverwriteInside_KeepsTheRest()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/f", [1, 2, 3, 4, 5]);
        using (Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite))
        {
            s.Write([9]);
            s.Seek(2, SeekOrigin.Begin);
            s.Write([8, 7]);
            Assert.Equal(5, s.Length);
        }

        Assert.Equal(new byte[] { 9, 2, 8, 7, 5 }, ConformanceTree.ReadAll(fs, "/f"));
    }

    [Fact]
    public void OpenFile_Append_WritesAtEnd()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/f", [1, 2]);
        using (Stream s = fs.OpenFile("/f", FileMode.Append, FileAccess.Write))
        {
            s.Write([3]);
            Assert.Throws<IOException>(() => s.Seek(0, SeekOrigin.Begin));
        }

        Assert.Equal(new byte[] { 1, 2, 3 }, ConformanceTree.ReadAll(fs, "/f"));
    }

    [Fact]
    public void OpenFile_ModeChecks_FollowFileStreamRules()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/f", [1]);
        Assert.Throws<IOException>(() => fs.OpenFile("/f", FileMode.CreateNew, FileAccess.Write));
        Assert.Throws<FileNotFoundException>(() => fs.OpenFile("/g", FileMode.Truncate, FileAccess.Write));
        Assert.Throws<ArgumentException>(() => fs.OpenFile("/f", FileMode.Create, FileAccess.Read));
        Assert.Throws<ArgumentException>(() => fs.OpenFile("/f", FileMode.Append, FileAccess.ReadWrite));
        Assert.Throws<DirectoryNotFoundException>(() => fs.OpenFile("/no/f", FileMode.Create, FileAccess.Write));
        using (Stream s = fs.OpenFile("/f", FileMode.Create, FileAccess.Write))
        {
            Assert.Equal(0, s.Length);
        }
    }

    [Fact]
    public void CreateDirectory_Existing_ThrowsIOException()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d", (UnixFileMode)0x1C0);
        Assert.Equal((UnixFileMode)0x1C0, fs.GetEntry("/d").Mode);
        Assert.Throws<IOException>(() => fs.CreateDirectory("/d"));
        Assert.Throws<DirectoryNotFoundException>(() => fs.CreateDirectory("/x/y"));
        Assert.Throws<IOException>(() => fs.CreateDirectory("/"));
    }

    [Fact]
    public void Modes_WithBitsOutside07777_AreRefusedNotMasked()
    {
        using IFileSystem fs = CreateEmpty();
        var withType = (UnixFileMode)0x41ED; // S_IFDIR | 0755: a file type is never part of a mode
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.CreateDirectory("/d", withType));
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.CreateFifo("/p", (UnixFileMode)0x11A4));
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.CreateSocket("/s", (UnixFileMode)0x1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.CreateDevice("/c", UnixFileType.CharacterDevice, 1, 3, (UnixFileMode)0x21B6));
        Assert.False(fs.Exists("/d") || fs.Exists("/p") || fs.Exists("/s") || fs.Exists("/c"));

        ConformanceTree.Write(fs, "/f", [1]);
        fs.SetMode("/f", UnixFileMode.UserRead);
        Assert.Throws<ArgumentOutOfRangeException>(() => fs.SetMode("/f", (UnixFileMode)0x81A4));
        Assert.Equal(UnixFileMode.UserRead, fs.GetEntry("/f").Mode);

        const UnixFileMode Mode0755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        fs.CreateDirectory("/m", Mode0755);
        Assert.Equal(Mode0755, fs.GetEntry("/m").Mode);
        Assert.False(fs.GetEntry("/m").Mode.HasFlag(UnixFileMode.StickyBit));
        fs.CreateDirectory("/t", Mode0755 | UnixFileMode.StickyBit);
        Assert.Equal((UnixFileMode)0x3ED, fs.GetEntry("/t").Mode); // 01755
    }

    [Fact]
    public void CreateDirectory_Nested_UpdatesParentLinkCount()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/a");
        Assert.Equal(2, fs.GetEntry("/a").LinkCount);
        fs.CreateDirectory("/a/b");
        fs.CreateDirectory("/a/c");
        Assert.Equal(4, fs.GetEntry("/a").LinkCount);
        fs.Delete("/a/c");
        Assert.Equal(3, fs.GetEntry("/a").LinkCount);
    }

    /// <summary>A device number with a large minor that the file system stores (XFS: 18-bit minors).</summary>
    protected virtual (int Major, int Minor) LargeDevice => (259, 300000);

    [Fact]
    public void CreateSpecialFiles_ReportTypesAndDeviceNumbers()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDevice("/null", UnixFileType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6);
        fs.CreateDevice("/sda", UnixFileType.BlockDevice, LargeDevice.Major, LargeDevice.Minor);
        fs.CreateFifo("/pipe");
        fs.CreateSocket("/sock");
        UnixFileInfo n = fs.GetEntry("/null");
        Assert.Equal((UnixFileType.CharacterDevice, 1, 3, (UnixFileMode)0x1B6), (n.Type, n.DeviceMajor, n.DeviceMinor, n.Mode));
        UnixFileInfo b = fs.GetEntry("/sda");
        Assert.Equal((UnixFileType.BlockDevice, LargeDevice.Major, LargeDevice.Minor), (b.Type, b.DeviceMajor, b.DeviceMinor));
        Assert.Equal(UnixFileType.Fifo, fs.GetEntry("/pipe").Type);
        Assert.Equal(UnixFileType.Socket, fs.GetEntry("/sock").Type);
        Assert.Throws<ArgumentException>(() => fs.CreateDevice("/x", UnixFileType.RegularFile, 1, 1));
        Assert.Throws<IOException>(() => fs.OpenFile("/pipe", FileMode.Open, FileAccess.Read));
    }

    [Fact]
    public void CreateHardLink_Directory_ThrowsIOException()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d");
        Assert.Throws<IOException>(() => fs.CreateHardLink("/e", "/d"));
        Assert.Throws<FileNotFoundException>(() => fs.CreateHardLink("/e", "/missing"));
    }

    [Fact]
    public void Delete_HardLink_KeepsOtherName()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/a", [9]);
        fs.CreateHardLink("/b", "/a");
        Assert.Equal(2, fs.GetEntry("/b").LinkCount);
        fs.Delete("/a");
        Assert.False(fs.Exists("/a"));
        Assert.Equal(1, fs.GetEntry("/b").LinkCount);
        Assert.Equal(new byte[] { 9 }, ConformanceTree.ReadAll(fs, "/b"));
    }

    [Fact]
    public void Delete_NonEmptyDirectory_ThrowsIOException()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d");
        ConformanceTree.Write(fs, "/d/f", [1]);
        Assert.Throws<IOException>(() => fs.Delete("/d"));
        Assert.Throws<IOException>(() => fs.Delete("/"));
        Assert.Throws<FileNotFoundException>(() => fs.Delete("/nope"));
        fs.Delete("/d/f");
        fs.Delete("/d");
        Assert.False(fs.Exists("/d"));
    }

    [Fact]
    public void Delete_SymbolicLink_RemovesLinkNotTarget()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d");
        fs.CreateSymbolicLink("/l", "/d");
        fs.Delete("/l");
        Assert.True(fs.Exists("/d"));
    }

    [Fact]
    public void Rename_ReplacesFileAndMovesDirectories()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/a", [1]);
        ConformanceTree.Write(fs, "/b", [2]);
        fs.Rename("/a", "/b");
        Assert.False(fs.Exists("/a"));
        Assert.Equal(new byte[] { 1 }, ConformanceTree.ReadAll(fs, "/b"));

        fs.CreateDirectory("/d1");
        fs.CreateDirectory("/d2");
        ConformanceTree.Write(fs, "/d1/f", [3]);
        fs.Rename("/d1", "/d2/moved");
        Assert.Equal(new byte[] { 3 }, ConformanceTree.ReadAll(fs, "/d2/moved/f"));
        Assert.Equal(3, fs.GetEntry("/d2").LinkCount);
    }

    [Fact]
    public void Rename_InvalidMoves_ThrowIOException()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d");
        fs.CreateDirectory("/d/sub");
        fs.CreateDirectory("/e");
        ConformanceTree.Write(fs, "/e/f", [1]);
        ConformanceTree.Write(fs, "/file", [1]);
        Assert.Throws<IOException>(() => fs.Rename("/d", "/d/sub/x"));
        Assert.Throws<IOException>(() => fs.Rename("/d", "/e"));
        Assert.Throws<IOException>(() => fs.Rename("/d", "/file"));
        Assert.Throws<IOException>(() => fs.Rename("/file", "/d"));
        Assert.Throws<FileNotFoundException>(() => fs.Rename("/nope", "/x"));
    }

    [Fact]
    public void SetModeOwnerTimes_Persist()
    {
        using IFileSystem fs = CreateEmpty();
        ConformanceTree.Write(fs, "/f", [1]);
        fs.SetMode("/f", (UnixFileMode)0xFED); // 07755
        fs.SetOwner("/f", 4_000_000_000, 65_536);
        var t = new UnixTime(-5, 999_999_999);
        fs.SetTimes("/f", t, null);
        UnixFileInfo e = fs.GetEntry("/f");
        Assert.Equal((UnixFileMode)0xFED, e.Mode);
        Assert.Equal(4_000_000_000u, e.UserId);
        Assert.Equal(65_536u, e.GroupId);
        Assert.Equal(t, e.AccessTime);
        Assert.NotEqual(t, e.ModificationTime);
    }

    [Fact]
    public void Xattrs_SetReplaceRemove()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateDirectory("/d");
        fs.SetXattr("/d", "security.selinux", "system_u:object_r:etc_t:s0\0"u8);
        fs.SetXattr("/d", "user.a", "1"u8);
        fs.SetXattr("/d", "user.a", "22"u8);
        fs.SetXattr("/d", "trusted.empty", ReadOnlySpan<byte>.Empty);
        IReadOnlyDictionary<string, byte[]> x = fs.GetXattrs("/d");
        Assert.Equal(3, x.Count);
        Assert.Equal("22"u8.ToArray(), x["user.a"]);
        Assert.Empty(x["trusted.empty"]);
        Assert.True(fs.RemoveXattr("/d", "user.a"));
        Assert.False(fs.RemoveXattr("/d", "user.a"));
        Assert.Throws<ArgumentException>(() => fs.SetXattr("/d", "noprefix", "1"u8));
    }

    [Fact]
    public void SymbolicLinkLoop_ThrowsIOException()
    {
        using IFileSystem fs = CreateEmpty();
        fs.CreateSymbolicLink("/a", "/b");
        fs.CreateSymbolicLink("/b", "/a");
        Assert.Throws<IOException>(() => fs.OpenFile("/a", FileMode.Open, FileAccess.Read));
        Assert.Equal(UnixFileType.SymbolicLink, fs.GetEntry("/a").Type);
    }
}
