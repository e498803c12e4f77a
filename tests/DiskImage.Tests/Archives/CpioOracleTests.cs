using System.Runtime.Versioning;
using DiskImage.Archives.Cpio;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Archives.CpioTestSupport;

namespace DiskImage.Tests.Archives;

/// <summary>Judged by GNU cpio (2.13 on Debian 12), lsinitramfs (initramfs-tools 0.142) and the compressors' own CLIs.</summary>
[SupportedOSPlatform("linux")]
public sealed class CpioOracleTests
{
    [SkippableTheory]
    [InlineData(CpioFormat.Newc)]
    [InlineData(CpioFormat.Crc)]
    public void GnuCpioExtract_OurArchive_SameTree(CpioFormat format)
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), dst = tmp.File("dst"), archive = tmp.File("a.cpio");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(dst);
        MakeTree(src);
        using (var fs = File.Create(archive))
        {
            CpioArchiveBuilder.Write(fs, new HostDirectoryTreeSource(src), new CpioBuildOptions { Format = format });
        }

        Shell($"cd {Quote(dst)} && cpio -idm --quiet --no-absolute-filenames < {Quote(archive)}");
        AssertSameTree(src, dst, withTimes: true);
    }

    [SkippableTheory]
    [InlineData("newc")]
    [InlineData("crc")]
    public void Unpack_GnuCpioArchive_SameTree(string format)
    {
        Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), dst = tmp.File("dst"), archive = tmp.File("a.cpio");
        Directory.CreateDirectory(src);
        MakeTree(src);
        Shell($"cd {Quote(src)} && find . | LC_ALL=C sort | cpio -o --quiet -H {format} > {Quote(archive)}");
        using (var fs = File.OpenRead(archive))
        {
            Initramfs.Unpack(fs, dst, new InitramfsExtractOptions { PreserveOwnership = true });
        }

        AssertSameTree(src, dst, withTimes: true);

        // The reader agrees with cpio -t on names and order.
        string[] expected = Shell($"cpio -it --quiet < {Quote(archive)}").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var f2 = File.OpenRead(archive);
        Assert.Equal(expected, Initramfs.List(f2).Select(e => e.Name).ToArray());
    }

    [SkippableFact]
    public void List_DebianInitrd_SameAsLsinitramfs()
    {
        Oracle.Require("lsinitramfs");
        string? initrd = Directory.Exists("/boot") ? Directory.GetFiles("/boot", "initrd.img-*").Order().LastOrDefault() : null;
        if (initrd is null)
        {
            if (Oracle.Required)
            {
                Assert.Fail("No /boot/initrd.img-* (install a kernel package with initramfs-tools).");
            }

            throw new SkipException("No /boot/initrd.img-*.");
        }

        string[] expected = Shell($"lsinitramfs {Quote(initrd)}").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using var fs = File.OpenRead(initrd);
        string[] actual = Initramfs.List(fs).Select(e => e.Name).ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
        Assert.Equal(expected.Length, actual.Length);
    }

    [SkippableFact]
    public void Unpack_DebianInitrd_SameTreeAsUnmkinitramfs()
    {
        Oracle.Require("unmkinitramfs");
        string initrd = InitramfsBootTests.RequireFile("/boot", "initrd.img-*", "a Debian initrd (install a kernel package with initramfs-tools)");
        using var tmp = new TempDirectory();
        string theirs = tmp.File("theirs"), ours = tmp.File("ours");
        Shell($"unmkinitramfs {Quote(initrd)} {Quote(theirs)}");
        using (var fs = File.OpenRead(initrd))
        {
            InitramfsExtractResult result = Initramfs.Unpack(fs, ours, new InitramfsExtractOptions { PreserveOwnership = true });
            Assert.Empty(result.Warnings);
        }

        // unmkinitramfs puts an early segment under early/ and the main one under main/ when there are several.
        string theirsMain = Directory.Exists(Path.Combine(theirs, "main")) ? Path.Combine(theirs, "main") : theirs;
        var expected = Snapshot(theirsMain);
        var actual = Snapshot(ours);
        foreach ((string path, string desc) in expected)
        {
            Assert.True(actual.TryGetValue(path, out string? got) && got == desc, $"{path}: expected {desc}, got {got}");
        }
    }

    [SkippableFact]
    public void List_KernelIncompatibleStreams_WarnOrThrow()
    {
        Oracle.Require("cpio");
        Oracle.Require("xz");
        Oracle.Require("lz4");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "a"), "a");
        string cpio = $"cd {Quote(src)} && find . | cpio -o --quiet -H newc";

        // xz with its default CRC64 check: readable, but the kernel refuses it.
        Shell($"{cpio} | xz -q > {Quote(tmp.File("crc64.xz"))}");
        using (var reader = new InitramfsReader(File.OpenRead(tmp.File("crc64.xz"))))
        {
            while (reader.GetNextEntry() is not null)
            {
            }

            Assert.Contains(reader.Warnings, w => w.Contains("integrity check", StringComparison.Ordinal));
        }

        // lz4 frame format (no -l): the kernel rejects it, and so do we, naming the fix.
        Shell($"{cpio} | lz4 -q > {Quote(tmp.File("frame.lz4"))}");
        var ex = Assert.Throws<InvalidDataException>(() => Initramfs.List(File.OpenRead(tmp.File("frame.lz4"))).Count());
        Assert.Contains("legacy", ex.Message, StringComparison.Ordinal);

        // An uncompressed cpio after an lz4 segment: the kernel would read it as part of the lz4
        // stream; we read both and warn.
        Shell($"{cpio} | lz4 -q -l > {Quote(tmp.File("lz4-then-cpio"))}; truncate -s %4 {Quote(tmp.File("lz4-then-cpio"))}; {cpio} >> {Quote(tmp.File("lz4-then-cpio"))}");
        using (var reader = new InitramfsReader(File.OpenRead(tmp.File("lz4-then-cpio"))))
        {
            int n = 0;
            while (reader.GetNextEntry() is not null)
            {
                n++;
            }

            Assert.Equal(4, n);
            Assert.Contains(reader.Warnings, w => w.Contains("follows an lz4 segment", StringComparison.Ordinal));
        }

        // gzip after lz4: its magic reads as an lz4 block size, so it fails, as in the kernel.
        Shell($"{cpio} | lz4 -q -l > {Quote(tmp.File("lz4-then-gzip"))}; {cpio} | gzip -n >> {Quote(tmp.File("lz4-then-gzip"))}");
        Assert.Throws<InvalidDataException>(() => Initramfs.List(File.OpenRead(tmp.File("lz4-then-gzip"))).Count());
    }

    [SkippableTheory]
    [InlineData("gzip -9 -n", InitramfsCompression.Gzip)]
    [InlineData("zstd -q -19", InitramfsCompression.Zstd)]
    [InlineData("xz -q --check=crc32 --lzma2=dict=1MiB", InitramfsCompression.Xz)]
    [InlineData("xz -q --format=lzma", InitramfsCompression.Lzma)]
    [InlineData("bzip2 -9", InitramfsCompression.Bzip2)]
    [InlineData("lz4 -q -l -9", InitramfsCompression.Lz4)]
    [InlineData("lzop -q -c", InitramfsCompression.Lzo)]
    public void List_EarlyPlusToolCompressedMain_EverySegment(string compressor, InitramfsCompression expected)
    {
        Oracle.Require("cpio");
        Oracle.Require(compressor.Split(' ')[0]);
        using var tmp = new TempDirectory();
        string early = tmp.File("early"), main = tmp.File("main"), image = tmp.File("initrd");
        Directory.CreateDirectory(Path.Combine(early, "kernel/x86/microcode"));
        File.WriteAllBytes(Path.Combine(early, "kernel/x86/microcode/GenuineIntel.bin"), new byte[1000]);
        Directory.CreateDirectory(main);
        MakeTree(main, specials: false);
        Shell($"cd {Quote(early)} && find . | LC_ALL=C sort | cpio -o --quiet -H newc > {Quote(image)}; " +
              $"cd {Quote(main)} && find . | LC_ALL=C sort | cpio -o --quiet -H newc | {compressor} >> {Quote(image)}");
        string[] names = Shell($"cd {Quote(early)} && find . | LC_ALL=C sort; cd {Quote(main)} && find . | LC_ALL=C sort").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => n.StartsWith("./", StringComparison.Ordinal) ? n[2..] : n).ToArray();
        using var fs = File.OpenRead(image);
        using var reader = new InitramfsReader(fs);
        var actual = new List<string>();
        while (reader.GetNextEntry() is { } e)
        {
            actual.Add(e.Name);
        }

        // GNU cpio emits each hard link group together, after its last member's sorted position.
        Assert.Equal(names.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
        Assert.True(reader.Segments.Count == 2, string.Join("; ", reader.Segments));
        Assert.Equal(InitramfsCompression.None, reader.Segments[0].Compression);
        Assert.Equal(expected, reader.Segments[1].Compression);
        Assert.Equal(new FileInfo(image).Length, reader.Segments[^1].Offset + reader.Segments[^1].Length);

        using var fs2 = File.OpenRead(image);
        using var data = new MemoryStream();
        Assert.True(Initramfs.ExtractFile(fs2, "/etc/conf.d/x.conf", data));
        Assert.Equal("key=value\n", System.Text.Encoding.UTF8.GetString(data.ToArray()));
    }

    [SkippableTheory]
    [InlineData(InitramfsCompression.Gzip, "gzip -dc")]
    [InlineData(InitramfsCompression.Zstd, "zstd -dc")]
    [InlineData(InitramfsCompression.Bzip2, "bzip2 -dc")]
    [InlineData(InitramfsCompression.Lzma, "xz --format=lzma -dc")]
    [InlineData(InitramfsCompression.Lz4, "lz4 -dc")]
    public void Write_Compression_ToolDecompressesToOurCpio(InitramfsCompression compression, string decompressor)
    {
        Oracle.Require("cpio");
        Oracle.Require(decompressor.Split(' ')[0]);
        using var tmp = new TempDirectory();
        string src = tmp.File("src"), dst = tmp.File("dst"), image = tmp.File("initrd");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(dst);
        MakeTree(src);
        Initramfs.Pack(src, image, new InitramfsWriteOptions { Compression = compression });
        Shell($"cd {Quote(dst)} && {decompressor} < {Quote(image)} | cpio -idm --quiet");
        AssertSameTree(src, dst);
    }
}
