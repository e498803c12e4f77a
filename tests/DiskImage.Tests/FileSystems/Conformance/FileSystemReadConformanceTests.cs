using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems.Conformance;

/// <summary>
/// Read behaviour every <see cref="IFileSystem"/> shares, run over the <see cref="ConformanceTree"/>.
/// Read-only implementations derive from this class; writable ones from <see cref="FileSystemWriteConformanceTests"/>.
/// </summary>
public abstract class FileSystemReadConformanceTests
{
    /// <summary>Returns a file system containing <see cref="ConformanceTree"/> (the test disposes it).</summary>
    protected abstract IFileSystem OpenPopulated();

    /// <summary>Whether the implementation records owners from the source (false when the tree was built without root).</summary>
    protected virtual bool PreservesOwners => true;

    /// <summary>Whether the tree's builder kept nanoseconds (mke2fs 1.47 -d stores whole seconds only).</summary>
    protected virtual bool PreservesNanoseconds => true;

    [SkippableFact]
    public void GetEntry_RegularFile_ReportsTypeModeOwnerSizeTimes()
    {
        using IFileSystem fs = OpenPopulated();
        UnixFileInfo e = fs.GetEntry("/hello.txt");
        Assert.Equal(UnixFileType.RegularFile, e.Type);
        Assert.Equal((UnixFileMode)0x1A0, e.Mode);
        Assert.Equal(ConformanceTree.HelloContent.Length, e.Size);
        Assert.Equal(2, e.LinkCount);
        UnixTime expected = PreservesNanoseconds ? ConformanceTree.FixedTime : new UnixTime(ConformanceTree.FixedTime.Seconds, 0);
        Assert.Equal(expected, e.ModificationTime);
        Assert.Equal(expected, e.AccessTime);
        Assert.Equal("hello.txt", e.Name);
        Assert.Equal("/hello.txt", e.Path);
        if (PreservesOwners)
        {
            Assert.Equal(1000u, e.UserId);
            Assert.Equal(1001u, e.GroupId);
        }
    }

    [SkippableFact]
    public void GetEntry_Root_IsDirectory()
    {
        using IFileSystem fs = OpenPopulated();
        UnixFileInfo e = fs.GetEntry("/");
        Assert.Equal(UnixFileType.Directory, e.Type);
        Assert.Equal("/", e.Path);
        Assert.True(e.LinkCount >= 3);
    }

    [SkippableFact]
    public void OpenFile_Read_ReturnsContentAndSeeks()
    {
        using IFileSystem fs = OpenPopulated();
        byte[] expected = ConformanceTree.PatternContent(70_000, 1);
        Assert.Equal(expected, ConformanceTree.ReadAll(fs, "/dir/sub/data.bin"));
        using Stream s = fs.OpenFile("/dir/sub/data.bin", FileMode.Open, FileAccess.Read);
        Assert.True(s.CanSeek);
        Assert.Equal(70_000, s.Length);
        s.Position = 65_530;
        byte[] buf = new byte[20];
        s.ReadExactly(buf);
        Assert.Equal(expected.AsSpan(65_530, 20).ToArray(), buf);
        s.Seek(-5, SeekOrigin.End);
        Assert.Equal(5, s.Read(buf));
        Assert.Equal(0, s.Read(buf));
    }

    [SkippableFact]
    public void OpenFile_EmptyFile_ReadsNothing()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Empty(ConformanceTree.ReadAll(fs, "/empty"));
        Assert.Equal(0, fs.GetEntry("/empty").Size);
    }

    [SkippableFact]
    public void OpenFile_ThroughSymbolicLink_FollowsIt()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Equal(ConformanceTree.HelloContent, ConformanceTree.ReadAll(fs, "/link"));
        Assert.Equal(70_000, ConformanceTree.ReadAll(fs, "/dir/up/data.bin").Length);
    }

    [SkippableFact]
    public void GetEntry_SymbolicLink_NotFollowed()
    {
        using IFileSystem fs = OpenPopulated();
        UnixFileInfo e = fs.GetEntry("/dir/up");
        Assert.Equal(UnixFileType.SymbolicLink, e.Type);
        Assert.Equal("/dir/sub", e.LinkTarget);
        Assert.Equal(8, e.Size);
        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/dir/up/.").Type);
    }

    [SkippableFact]
    public void GetEntry_DotDot_ResolvesPhysicalParent()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Equal("/dir/sub/data.bin", fs.GetEntry("/dir/up/../sub/./data.bin").Path);
        Assert.Equal("/", fs.GetEntry("/..").Path);
    }

    [SkippableFact]
    public void GetEntry_HardLink_SharesInode()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Equal(fs.GetEntry("/hello.txt").Inode, fs.GetEntry("/dir/hard").Inode);
        Assert.Equal(2, fs.GetEntry("/dir/hard").LinkCount);
    }

    [SkippableFact]
    public void EnumerateDirectory_Root_ListsChildrenWithoutDots()
    {
        using IFileSystem fs = OpenPopulated();
        var names = fs.EnumerateDirectory("/").Select(e => e.Name).Where(n => n != "lost+found").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "dir", "empty", "hello.txt", "link" }, names);
        UnixFileInfo dir = fs.EnumerateDirectory("/").Single(e => e.Name == "dir");
        Assert.Equal("/dir", dir.Path);
        Assert.Equal(UnixFileType.Directory, dir.Type);
        Assert.Equal(3, dir.LinkCount);
    }

    [SkippableFact]
    public void EnumerateDirectory_ThroughSymbolicLink_ListsTarget()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Equal("data.bin", Assert.Single(fs.EnumerateDirectory("/dir/up")).Name);
    }

    [SkippableFact]
    public void GetXattrs_File_ReturnsRawValue()
    {
        using IFileSystem fs = OpenPopulated();
        IReadOnlyDictionary<string, byte[]> x = fs.GetXattrs("/hello.txt");
        Assert.Equal("greeting"u8.ToArray(), x["user.comment"]);
        Assert.DoesNotContain("user.comment", fs.GetXattrs("/empty").Keys);
    }

    [SkippableFact]
    public void Exists_ReportsPresence()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.True(fs.Exists("/dir/sub"));
        Assert.True(fs.Exists("/link"));
        Assert.False(fs.Exists("/nope"));
        Assert.False(fs.Exists("/nope/deeper"));
        Assert.False(fs.Exists("/hello.txt/child"));
    }

    [SkippableFact]
    public void GetEntry_Missing_ThrowsFileNotFound()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Throws<FileNotFoundException>(() => fs.GetEntry("/missing"));
        Assert.Throws<FileNotFoundException>(() => fs.OpenFile("/missing", FileMode.Open, FileAccess.Read));
    }

    [SkippableFact]
    public void GetEntry_MissingOrFileParent_ThrowsDirectoryNotFound()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Throws<DirectoryNotFoundException>(() => fs.GetEntry("/missing/child"));
        Assert.Throws<DirectoryNotFoundException>(() => fs.GetEntry("/hello.txt/child"));
    }

    [SkippableFact]
    public void GetEntry_RelativeOrEmptyPath_ThrowsArgument()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Throws<ArgumentException>(() => fs.GetEntry("hello.txt"));
        Assert.Throws<ArgumentException>(() => fs.GetEntry(string.Empty));
        Assert.Throws<ArgumentNullException>(() => fs.GetEntry(null!));
    }

    [SkippableFact]
    public void OpenFile_Directory_ThrowsUnauthorizedAccess()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Throws<UnauthorizedAccessException>(() => fs.OpenFile("/dir", FileMode.Open, FileAccess.Read));
    }

    [SkippableFact]
    public void EnumerateDirectory_File_ThrowsIOException()
    {
        using IFileSystem fs = OpenPopulated();
        Assert.Throws<IOException>(() => fs.EnumerateDirectory("/hello.txt").ToList());
    }

    [SkippableFact]
    public void Mutation_WhenReadOnly_ThrowsNotSupported()
    {
        using IFileSystem fs = OpenPopulated();
        Skip.IfNot(fs.IsReadOnly, "The file system is writable.");
        Assert.Throws<NotSupportedException>(() => fs.CreateDirectory("/new"));
        Assert.Throws<NotSupportedException>(() => fs.Delete("/hello.txt"));
        Assert.Throws<NotSupportedException>(() => fs.Rename("/hello.txt", "/x"));
        Assert.Throws<NotSupportedException>(() => fs.SetMode("/hello.txt", (UnixFileMode)0x1FF));
        Assert.Throws<NotSupportedException>(() => fs.SetXattr("/hello.txt", "user.a", "b"u8));
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/hello.txt", FileMode.Open, FileAccess.ReadWrite));
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/new", FileMode.CreateNew, FileAccess.Write));
        using Stream s = fs.OpenFile("/hello.txt", FileMode.Open, FileAccess.Read);
        Assert.False(s.CanWrite);
        Assert.Throws<NotSupportedException>(() => s.WriteByte(1));
    }
}
