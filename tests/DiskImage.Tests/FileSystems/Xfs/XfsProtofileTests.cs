using System.Globalization;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Xfs;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// Images that <c>mkfs.xfs -p protofile</c> (xfsprogs 6.1) builds and fills itself, without the kernel:
/// the way to judge version 4 (<c>-m crc=0</c>) reading, which current kernels no longer mount. The
/// reader must report the protofile's tree: types, modes, owners, sizes, content, link targets and
/// device numbers.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsProtofileTests
{
    public static TheoryData<string, string> Profiles => new()
    {
        { "version 4", "-m crc=0" },
        { "version 4, ftype, 256-byte inodes", "-m crc=0 -n ftype=1 -i size=256" },
        { "version 4, 1 KiB blocks", "-m crc=0 -b size=1024" },
        { "version 5 defaults", string.Empty },
    };

    [SkippableTheory]
    [MemberData(nameof(Profiles))]
    public void Open_ProtofileImage_ReadsTheProtofileTree(string name, string options)
    {
        Oracle.Require("mkfs.xfs");
        using var temp = new TempDirectory();
        var expected = new Dictionary<string, Expected>(StringComparer.Ordinal);
        string proto = WriteProtofile(temp, expected, new Random(name.Length), remoteSymlink: options.Contains("crc=0", StringComparison.Ordinal));
        string image = temp.File("xfs.img");
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(XfsTestImages.ImageSize);
        }

        ToolResult r = Oracle.Run("mkfs.xfs", ["-f", "-q", "-p", proto, .. options.Split(' ', StringSplitOptions.RemoveEmptyEntries), image], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());

        using XfsFileSystem fs = XfsTestImages.Open(image);
        Assert.Equal(options.Contains("crc=0", StringComparison.Ordinal) ? 4 : 5, fs.Version);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Compare(fs, "/", expected, seen);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// mkfs.xfs 6.1 writes a protofile's remote symlink on a version 5 file system without its block
    /// header: xfs_repair -n rejects the image, and so must the reader (not return the raw block).
    /// </summary>
    [SkippableFact]
    public void GetEntry_ProtofileV5RemoteSymlinkWithoutHeader_RefusedLikeXfsRepair()
    {
        Oracle.Require("mkfs.xfs");
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string proto = temp.File("proto");
        File.WriteAllText(proto, $"/dev/null\n0 0\nd--755 0 0\nlong l--777 0 0 {LongTarget}\n$\n");
        string image = temp.File("xfs.img");
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(XfsTestImages.ImageSize);
        }

        Oracle.RunOk("mkfs.xfs", "-f", "-q", "-p", proto, image);
        Assert.Equal(1, Oracle.Run("xfs_repair", "-n", image).ExitCode);
        using XfsFileSystem fs = XfsTestImages.Open(image);
        Assert.Throws<InvalidDataException>(() => fs.GetEntry("/long"));
    }

    private static string LongTarget => string.Join('/', Enumerable.Repeat("long-component", 40));

    private static void Compare(XfsFileSystem fs, string dir, Dictionary<string, Expected> expected, HashSet<string> seen)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            seen.Add(e.Path);
            Assert.True(expected.TryGetValue(e.Path, out Expected? want), $"unexpected {e.Path}");
            string what = $"{e.Path} ({XfsTestImages.MkfsVersion})";
            Assert.True(want.Type == e.Type, what);
            Assert.True(want.Mode == (int)e.Mode, $"{what}: mode {Convert.ToString((int)e.Mode, 8)}");
            Assert.True(want.Uid == e.UserId && want.Gid == e.GroupId, what);
            switch (e.Type)
            {
                case UnixFileType.Directory:
                    Compare(fs, e.Path, expected, seen);
                    break;
                case UnixFileType.RegularFile:
                    using (Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read))
                    {
                        using var copy = new MemoryStream();
                        s.CopyTo(copy);
                        Assert.True(want.Content!.AsSpan().SequenceEqual(copy.ToArray()), $"{what}: content");
                    }

                    break;
                case UnixFileType.SymbolicLink:
                    Assert.Equal(want.Target, e.LinkTarget);
                    Assert.Equal(Encoding.UTF8.GetByteCount(want.Target!), e.Size);
                    break;
                case UnixFileType.CharacterDevice or UnixFileType.BlockDevice:
                    Assert.Equal((want.Major, want.Minor), (e.DeviceMajor, e.DeviceMinor));
                    break;
            }
        }
    }

    /// <summary>Writes the protofile and the host files it names; fills <paramref name="expected"/> with the tree.</summary>
    internal static string WriteProtofile(TempDirectory temp, Dictionary<string, Expected> expected, Random rng, bool remoteSymlink)
    {
        var proto = new StringBuilder("/dev/null\n0 0\nd--755 0 0\n");
        int files = 0;
        string HostFile(byte[] content)
        {
            string p = temp.File("content-" + (files++).ToString(CultureInfo.InvariantCulture));
            File.WriteAllBytes(p, content);
            return p;
        }

        void File_(string dir, string name, int mode, uint uid, uint gid, int size)
        {
            byte[] content = new byte[size];
            rng.NextBytes(content);
            proto.Append(CultureInfo.InvariantCulture, $"{name} -{Special(mode)}{Convert.ToString(mode & 0x1FF, 8).PadLeft(3, '0')} {uid} {gid} {HostFile(content)}\n");
            expected[dir + name] = new Expected(UnixFileType.RegularFile, mode, uid, gid) { Content = content };
        }

        File_("/", "empty", 0x1A4, 0, 0, 0);
        File_("/", "small", 0x180, 1000, 1000, 100);
        File_("/", "setuid", 0x9ED, 0, 0, 5000);
        File_("/", "large", 0x1A4, 12, 34, 300_000);
        proto.Append("dir d--750 5 6\n");
        expected["/dir"] = new Expected(UnixFileType.Directory, 0x1E8, 5, 6);
        File_("/dir/", "inner", 0x1A4, 0, 0, 4097);
        proto.Append("short l--777 0 0 target\n");
        expected["/dir/short"] = new Expected(UnixFileType.SymbolicLink, 0x1FF, 0, 0) { Target = "target" };
        if (remoteSymlink)
        {
            proto.Append(CultureInfo.InvariantCulture, $"long l--777 0 0 {LongTarget}\n");
            expected["/dir/long"] = new Expected(UnixFileType.SymbolicLink, 0x1FF, 0, 0) { Target = LongTarget };
        }

        proto.Append("tty c--620 0 5 4 1\nsda b--660 0 6 8 0\nfifo p--644 0 0\n");
        expected["/dir/tty"] = new Expected(UnixFileType.CharacterDevice, 0x190, 0, 5) { Major = 4, Minor = 1 };
        expected["/dir/sda"] = new Expected(UnixFileType.BlockDevice, 0x1B0, 0, 6) { Major = 8, Minor = 0 };
        expected["/dir/fifo"] = new Expected(UnixFileType.Fifo, 0x1A4, 0, 0);
        proto.Append("$\nwide d--755 0 0\n");
        expected["/wide"] = new Expected(UnixFileType.Directory, 0x1ED, 0, 0);
        for (int i = 0; i < 700; i++)
        {
            File_("/wide/", "entry-" + i.ToString("D4", CultureInfo.InvariantCulture) + "-with-a-longer-name", 0x1A4, 0, 0, i % 3);
        }

        proto.Append("$\n$\n");
        string path = temp.File("proto");
        File.WriteAllText(path, proto.ToString());
        return path;
    }

    private static string Special(int mode) => ((mode & 0x800) != 0 ? "u" : "-") + ((mode & 0x400) != 0 ? "g" : "-");

    internal sealed record Expected(UnixFileType Type, int Mode, uint Uid, uint Gid)
    {
        public byte[]? Content { get; init; }

        public string? Target { get; init; }

        public int Major { get; init; }

        public int Minor { get; init; }
    }
}
