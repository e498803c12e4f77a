using System.Text;
using DiskImage.Cli;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;

namespace DiskImage.Tests.FileSystems.Names;

/// <summary>
/// Names that are not valid UTF-8 through the <see cref="IFileSystem"/> implementations and the CLI's text plumbing:
/// <c>x\xfd</c> and <c>x\xfc</c> stay two entries with their own content, names GetString never gives are refused.
/// </summary>
public sealed class RawNameFileSystemTests
{
    private static readonly string Xfd = UnixPathEncoding.GetString([0x78, 0xFD]);
    private static readonly string Xfc = UnixPathEncoding.GetString([0x78, 0xFC]);
    private static readonly string Lone = UnixPathEncoding.GetString([0xC3]);

    public static TheoryData<string> Implementations => ["in-memory", "ext4"];

    [Theory]
    [MemberData(nameof(Implementations))]
    public void CreateFiles_NamesDifferingInInvalidBytes_TwoEntriesWithOwnContent(string implementation)
    {
        using IFileSystem fs = Create(implementation);
        Write(fs, "/" + Xfd, "first");
        Write(fs, "/" + Xfc, "second");
        fs.CreateDirectory("/" + Lone);
        Write(fs, "/" + Lone + "/n\nl", "nested");
        fs.CreateSymbolicLink("/l", Xfd);

        Assert.Equal("first", Read(fs, "/" + Xfd));
        Assert.Equal("second", Read(fs, "/" + Xfc));
        Assert.Equal("nested", Read(fs, "/" + Lone + "/n\nl"));
        Assert.Equal("first", Read(fs, "/l"));
        Assert.Equal(Xfd, fs.GetEntry("/l").LinkTarget);
        Assert.Equal(2, fs.GetEntry("/l").Size);
        var names = fs.EnumerateDirectory("/").Select(e => e.Name).Where(n => n != "lost+found").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "l", Xfc, Xfd, Lone }.Order(StringComparer.Ordinal), names);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void CreateFile_NameGetStringNeverGives_ArgumentException(string implementation)
    {
        using IFileSystem fs = Create(implementation);
        Assert.ThrowsAny<ArgumentException>(() => fs.OpenFile("/\uDCC3\uDCA9", FileMode.CreateNew, FileAccess.Write));
        Assert.ThrowsAny<ArgumentException>(() => fs.CreateDirectory("/a\uD800"));
        Assert.ThrowsAny<ArgumentException>(() => fs.CreateSymbolicLink("/l", "\uDC00"));
        Assert.False(fs.Exists("/\u00E9"));
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void CreateFile_255BytesWithEscapesAndMultibyte_AcceptedAnd256Refused(string implementation)
    {
        using IFileSystem fs = Create(implementation);
        string raw255 = UnixPathEncoding.GetString(Enumerable.Repeat((byte)0xFF, 255).ToArray());
        string utf255 = string.Concat(Enumerable.Repeat("\u00E9", 127)) + "a";
        Write(fs, "/" + raw255, "r");
        Write(fs, "/" + utf255, "u");
        Assert.Equal("r", Read(fs, "/" + raw255));
        Assert.Equal("u", Read(fs, "/" + utf255));
        Assert.Throws<PathTooLongException>(() => Write(fs, "/" + raw255 + Lone, "x"));
        Assert.Throws<PathTooLongException>(() => Write(fs, "/" + utf255 + "b", "x"));
    }

    [Fact]
    public void Ext4_RawNames_SurviveReopen()
    {
        var device = new MemoryBlockDevice(8 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = 1024 });
        using (var fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            Write(fs, "/" + Xfd, "first");
            Write(fs, "/" + Xfc, "second");
        }

        using var again = Ext4FileSystem.Open(device, leaveOpen: true);
        Assert.Equal("first", Read(again, "/" + Xfd));
        Assert.Equal("second", Read(again, "/" + Xfc));
        Assert.False(again.Exists("/x\uFFFD"));
    }

    [Fact]
    public void ConsoleEncoding_EscapesAndSplitPairs_RawBytes()
    {
        using var buffer = new MemoryStream();
        using (var writer = new StreamWriter(buffer, RawNameConsoleEncoding.Instance, bufferSize: 16, leaveOpen: true))
        {
            // Pairs cut by the writer's small buffer, escapes, and a lone surrogate that cannot be written.
            writer.Write(new string('a', 15) + "\U0001F480" + Xfd + "\n" + new string('b', 14) + "\U0001F480\uD800!");
        }

        byte[] expected = [.. Enumerable.Repeat((byte)'a', 15), 0xF0, 0x9F, 0x92, 0x80, 0x78, 0xFD, 0x0A, .. Enumerable.Repeat((byte)'b', 14), 0xF0, 0x9F, 0x92, 0x80, 0xEF, 0xBF, 0xBD, 0x21];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(buffer.ToArray()));
    }

    [Fact]
    public void RawArguments_CmdlineHoldsInvalidUtf8_RecoveredAsEscapes()
    {
        byte[] cmdline = [.. "dotnet\0cli.dll\0cat\0img\0/x"u8, 0xFD, 0];
        string[] args = ["cat", "img", "/x\uFFFD"];
        Assert.Equal(new[] { "cat", "img", Xfd.Insert(0, "/") }, RawArguments.Match(args, cmdline));

        // A command line that does not match what the runtime gave is left alone.
        string[] other = ["cat", "img", "/y\uFFFD"];
        Assert.Same(other, RawArguments.Match(other, cmdline));
    }

    private static IFileSystem Create(string implementation)
    {
        if (implementation == "in-memory")
        {
            return new InMemoryFileSystem();
        }

        var device = new MemoryBlockDevice(8 << 20);
        Ext4FileSystem.Format(device, new Ext4FormatOptions { BlockSize = 1024 });
        return Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
    }

    private static void Write(IFileSystem fs, string path, string content)
    {
        using Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(content));
    }

    private static string Read(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var reader = new StreamReader(s);
        return reader.ReadToEnd();
    }
}
