using DiskImage.FileSystems;
using DiskImage.Interop;

namespace DiskImage.Tests.FileSystems.Host;

/// <summary>The shared Linux calls of <c>DiskImage.Interop.UnixNative</c>, checked against what the BCL reports.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnixNativeTests
{
    [SkippableFact]
    public void TryLStat_MissingPathOrComponentNotDirectory_ReturnsFalse()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "statx is Linux only.");
        using var temp = new TempDirectory();
        string file = Path.Combine(temp.Path, "file");
        File.WriteAllBytes(file, [1, 2, 3]);
        Assert.False(UnixNative.TryLStat(Path.Combine(temp.Path, "missing"), out _));
        Assert.False(UnixNative.TryLStat(Path.Combine(file, "below"), out _));
    }

    [SkippableFact]
    public void TryLStat_FileAndSymlink_MatchBcl()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "statx is Linux only.");
        using var temp = new TempDirectory();
        string file = Path.Combine(temp.Path, "file");
        File.WriteAllBytes(file, new byte[5000]);
        var mtime = new DateTime(2031, 5, 6, 7, 8, 9, DateTimeKind.Utc).AddTicks(1234567);
        File.SetLastWriteTimeUtc(file, mtime);
        string link = Path.Combine(temp.Path, "link");
        File.CreateSymbolicLink(link, "file");

        Assert.True(UnixNative.TryLStat(file, out UnixStat st));
        Assert.Equal(UnixFileType.RegularFile, st.FileType);
        Assert.Equal(0x8000, st.Type);
        Assert.Equal(5000, st.Size);
        Assert.Equal(1u, st.NLink);
        Assert.Equal((int)File.GetUnixFileMode(file), st.Mode & 0xFFF);
        Assert.Equal(new DateTimeOffset(mtime).ToUnixTimeSeconds(), st.MTimeSeconds);
        Assert.Equal(123_456_700, st.ModificationTime.Nanoseconds);

        Assert.True(UnixNative.TryLStat(link, out UnixStat ls));
        Assert.Equal(UnixFileType.SymbolicLink, ls.FileType);
        Assert.Equal("file", UnixNative.ReadLink(link));
        Assert.NotEqual(st.Inode, ls.Inode);
    }

    [SkippableFact]
    public void TryLink_SecondName_SharesInode()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "link is used on Linux only.");
        using var temp = new TempDirectory();
        string a = Path.Combine(temp.Path, "a");
        string b = Path.Combine(temp.Path, "b");
        File.WriteAllText(a, "x");
        Assert.True(UnixNative.TryLink(a, b));
        Assert.False(UnixNative.TryLink(a, b));
        Assert.True(UnixNative.TryLStat(a, out UnixStat sa));
        Assert.True(UnixNative.TryLStat(b, out UnixStat sb));
        Assert.Equal(2u, sa.NLink);
        Assert.Equal(sa.Inode, sb.Inode);
    }

    [SkippableFact]
    public void ReadDirectory_ListsNamesWithoutDotEntries()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "getdents64 is Linux only.");
        using var temp = new TempDirectory();
        for (int i = 0; i < 300; i++)
        {
            File.WriteAllText(Path.Combine(temp.Path, $"entry-{i:D3}-{new string('n', 100)}"), "");
        }

        List<string> names = UnixNative.ReadDirectory(temp.Path);
        names.Sort(StringComparer.Ordinal);
        string[] expected = [.. Directory.EnumerateFileSystemEntries(temp.Path).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal)];
        Assert.Equal(expected, names);
    }
}
