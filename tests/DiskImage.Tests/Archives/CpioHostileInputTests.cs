using System.IO.Compression;
using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.Interop;

namespace DiskImage.Tests.Archives;

/// <summary>Malformed and malicious archives: InvalidDataException (or a refused write), never a crash, hang or write outside the target.</summary>
[SupportedOSPlatform("linux")]
public sealed class CpioHostileInputTests
{
    private static byte[] Header(string name, uint mode, uint fileSize, uint nlink = 1, uint ino = 1, uint? nameSize = null, string magic = "070701")
    {
        uint ns = nameSize ?? (uint)(Encoding.UTF8.GetByteCount(name) + 1);
        var sb = new StringBuilder(magic);
        foreach (uint v in new uint[] { ino, mode, 0, 0, nlink, 0, fileSize, 0, 0, 0, 0, ns, 0 })
        {
            sb.Append(v.ToString("X8", System.Globalization.CultureInfo.InvariantCulture));
        }

        var bytes = new List<byte>(Encoding.ASCII.GetBytes(sb.ToString()));
        bytes.AddRange(Encoding.UTF8.GetBytes(name));
        bytes.Add(0);
        while (bytes.Count % 4 != 0)
        {
            bytes.Add(0);
        }

        return bytes.ToArray();
    }

    private static byte[] Entry(string name, uint mode, byte[] data, uint nlink = 1, uint ino = 1)
    {
        var bytes = new List<byte>(Header(name, mode, (uint)data.Length, nlink, ino));
        bytes.AddRange(data);
        while (bytes.Count % 4 != 0)
        {
            bytes.Add(0);
        }

        return bytes.ToArray();
    }

    private static byte[] Archive(params byte[][] entries) =>
        entries.SelectMany(e => e).Concat(Entry("TRAILER!!!", 0, [])).ToArray();

    private static void AssertInvalid(byte[] image, InitramfsReaderOptions? options = null)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Throws<InvalidDataException>(() => Initramfs.List(new MemoryStream(image), options).Count());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "reader too slow");
    }

    [Fact]
    public void List_TruncatedHeader_Throws() => AssertInvalid(Archive(Entry("a", 0x81A4, "hello"u8.ToArray()))[..50]);

    [Fact]
    public void List_TruncatedData_Throws() => AssertInvalid(Entry("a", 0x81A4, new byte[100])[..140]);

    [Fact]
    public void List_NonHexField_Throws()
    {
        byte[] a = Archive(Entry("a", 0x81A4, "x"u8.ToArray()));
        a[20] = (byte)'G';
        AssertInvalid(a);
    }

    [Fact]
    public void List_HugeNameSize_Throws() => AssertInvalid(Header("a", 0x81A4, 0, nameSize: 0xFFFFFFFF).Concat(new byte[64]).ToArray());

    [Fact]
    public void List_HugeFileSize_Throws() => AssertInvalid(Header("a", 0x81A4, 0xFFFFFFFF).Concat(new byte[64]).ToArray());

    [Fact]
    public void List_OdcMagic_Throws() => AssertInvalid(Header("a", 0x81A4, 0, magic: "070707"));

    [Fact]
    public void List_CrcMismatch_Throws()
    {
        byte[] a = Archive(Entry("a", 0x81A4, "abc"u8.ToArray()));
        a[5] = (byte)'2'; // crc magic with a zero checksum field
        AssertInvalid(a);
    }

    [Fact]
    public void List_GarbageMagic_Throws() => AssertInvalid(Encoding.ASCII.GetBytes("this is not an initramfs at all"));

    [Fact]
    public void List_LongZeroPadding_EndsQuickly()
    {
        byte[] image = Archive(Entry("a", 0x81A4, "x"u8.ToArray())).Concat(new byte[64 << 20]).ToArray();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Single(Initramfs.List(new MemoryStream(image)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "too slow on zero padding");
    }

    [Fact]
    public void List_GzipBombBeyondCap_Throws()
    {
        using var ms = new MemoryStream();
        using (Stream gz = Initramfs.OpenCompressor(ms, new InitramfsWriteOptions { Compression = InitramfsCompression.Gzip }))
        using (var w = new CpioWriter(gz))
        {
            w.WriteEntry(new CpioEntry(CpioEntryType.RegularFile, "bomb") { DataStream = new MemoryStream(new byte[64 << 20]) });
        }

        Assert.True(ms.Length < 1 << 20);
        AssertInvalid(ms.ToArray(), new InitramfsReaderOptions { MaxDecompressedSize = 8 << 20 });
    }

    [Fact]
    public void List_RandomCorruption_OnlyInvalidData()
    {
        const int seed = 20261127;
        var rng = new Random(seed);
        var tree = new InMemoryTreeSource();
        for (int i = 0; i < 20; i++)
        {
            byte[] d = new byte[rng.Next(0, 3000)];
            rng.NextBytes(d);
            tree.AddFile($"d{i % 3}/f{i}", d);
        }

        foreach (InitramfsCompression c in CpioTestSupport.WritableCompressions)
        {
            using var ms = new MemoryStream();
            Initramfs.Write(ms, tree, new InitramfsWriteOptions { Compression = c, Build = new() { Format = CpioFormat.Crc } });
            byte[] good = ms.ToArray();
            for (int iter = 0; iter < 40; iter++)
            {
                byte[] bad = (byte[])good.Clone();
                int flips = rng.Next(1, 4);
                for (int f = 0; f < flips; f++)
                {
                    bad[rng.Next(bad.Length)] ^= (byte)rng.Next(1, 256);
                }

                if (rng.Next(4) == 0)
                {
                    bad = bad[..rng.Next(bad.Length)];
                }

                try
                {
                    _ = Initramfs.List(new MemoryStream(bad), new InitramfsReaderOptions { MaxDecompressedSize = 64 << 20 }).Count();
                }
                catch (Exception ex) when (ex is InvalidDataException or NotSupportedException)
                {
                }
                catch (Exception ex)
                {
                    Assert.Fail($"seed {seed} {c} iteration {iter}: {ex}");
                }
            }
        }
    }

    [Fact]
    public void Unpack_DotDotName_ThrowsAndWritesNothingOutside()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t");
        byte[] image = Archive(Entry("../escape", 0x81A4, "x"u8.ToArray()));
        Assert.Throws<InvalidDataException>(() => Initramfs.Unpack(new MemoryStream(image), target));
        Assert.False(File.Exists(tmp.File("escape")));
    }

    [Fact]
    public void Unpack_AbsoluteName_StaysInside()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t");
        byte[] image = Archive(Entry("/abs.txt", 0x81A4, "x"u8.ToArray()));
        Initramfs.Unpack(new MemoryStream(image), target);
        Assert.True(File.Exists(Path.Combine(target, "abs.txt")));
    }

    [Fact]
    public void Unpack_SymlinkEscape_Throws()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t"), outside = tmp.File("outside");
        Directory.CreateDirectory(outside);
        byte[] image = Archive(
            Entry("evil", 0xA1FF, Encoding.UTF8.GetBytes(outside)),
            Entry("evil/owned", 0x81A4, "x"u8.ToArray()));
        Assert.Throws<InvalidDataException>(() => Initramfs.Unpack(new MemoryStream(image), target));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public void Unpack_SymlinkThenFileSameName_ReplacesLinkNotTarget()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t"), outside = tmp.File("victim");
        File.WriteAllText(outside, "original");
        byte[] image = Archive(
            Entry("f", 0xA1FF, Encoding.UTF8.GetBytes(outside)),
            Entry("f", 0x81A4, "payload"u8.ToArray()));
        Initramfs.Unpack(new MemoryStream(image), target);
        Assert.Equal("original", File.ReadAllText(outside));
        Assert.Equal("payload", File.ReadAllText(Path.Combine(target, "f")));
    }

    [Fact]
    public void Unpack_HardLinkToReplacedSymlink_DoesNotWriteOutside()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t"), outside = tmp.File("victim");
        File.WriteAllText(outside, "original");
        byte[] image = Archive(
            Entry("a", 0x81A4, [], nlink: 2, ino: 9),
            Entry("a", 0xA1FF, Encoding.UTF8.GetBytes(outside), ino: 10),
            Entry("b", 0x81A4, "payload"u8.ToArray(), nlink: 2, ino: 9));
        Initramfs.Unpack(new MemoryStream(image), target);
        Assert.Equal("original", File.ReadAllText(outside));
        Assert.Equal("payload", File.ReadAllText(Path.Combine(target, "b")));
    }

    [Fact]
    public void Unpack_HardLinks_KernelSemantics()
    {
        using var tmp = new TempDirectory();
        string target = tmp.File("t");
        byte[] image = Archive(
            Entry("x", 0x81A4, [], nlink: 3, ino: 5),
            Entry("y", 0x81A4, [], nlink: 3, ino: 5),
            Entry("z", 0x81A4, "data"u8.ToArray(), nlink: 3, ino: 5));
        Initramfs.Unpack(new MemoryStream(image), target);
        foreach (string n in new[] { "x", "y", "z" })
        {
            Assert.Equal("data", File.ReadAllText(Path.Combine(target, n)));
        }

        Assert.True(UnixNative.TryLStat(Path.Combine(target, "x"), out UnixStat st));
        Assert.Equal(3u, st.NLink);
    }

    [Fact]
    public void Write_Refusals_Throw()
    {
        using var ms = new MemoryStream();
        using var w = new CpioWriter(ms, leaveOpen: true);
        Assert.Throws<ArgumentException>(() => w.WriteEntry(new CpioEntry(CpioEntryType.Directory, new string('a', 4096))));
        Assert.Throws<ArgumentException>(() => w.WriteEntry(new CpioEntry(CpioEntryType.Directory, "TRAILER!!!")));
        Assert.Throws<NotSupportedException>(() => Initramfs.OpenCompressor(ms, new InitramfsWriteOptions { Compression = InitramfsCompression.Xz }));
        Assert.Throws<ArgumentException>(() => CpioArchiveBuilder.Write(ms, Tree("a/../b")));
    }

    [Fact]
    public async Task ReaderWriter_AsyncRoundTrip_SameEntries()
    {
        using var ms = new MemoryStream();
        await using (var w = new CpioWriter(ms, CpioFormat.Crc, leaveOpen: true))
        {
            await w.WriteEntryAsync(new CpioEntry(CpioEntryType.Directory, "d"));
            await w.WriteEntryAsync(new CpioEntry(CpioEntryType.RegularFile, "d/f") { DataStream = new MemoryStream("hello"u8.ToArray()) });
            await w.WriteEntryAsync(new CpioEntry(CpioEntryType.SymbolicLink, "d/l") { LinkName = "f" });
            await w.WriteEntryAsync(new CpioEntry(CpioEntryType.CharacterDevice, "d/null") { RDevMajor = 1, RDevMinor = 3 });
        }

        ms.Position = 0;
        await using var r = new CpioReader(ms);
        var names = new List<string>();
        while (await r.GetNextEntryAsync(copyData: true) is { } e)
        {
            names.Add($"{e.EntryType}:{e.Name}:{e.LinkName}:{e.RDevMajor}:{(e.DataStream is null ? "" : new StreamReader(e.DataStream).ReadToEnd())}");
        }

        Assert.Equal(["Directory:d::0:", "RegularFile:d/f::0:hello", "SymbolicLink:d/l:f:0:", "CharacterDevice:d/null::1:"], names);
        Assert.Equal(0, ms.Length % 512);
    }

    private static InMemoryTreeSource Tree(string path)
    {
        var t = new InMemoryTreeSource();
        t.AddFile(path, "x"u8.ToArray());
        return t;
    }
}
