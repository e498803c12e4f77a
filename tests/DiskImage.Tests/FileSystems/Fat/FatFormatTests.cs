using System.Buffers.Binary;
using System.Security.Cryptography;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// <see cref="FatFileSystem.Format"/> against <c>mkfs.fat</c> 4.2 on image files of the same size: the same
/// type, cluster size, reserved sectors, root entries, FAT size and data area; <c>fsck.fat -n</c> finds the
/// result clean; mtools writes into it and fsck still finds it clean; the same options give the same bytes.
/// </summary>
public sealed class FatFormatTests
{
    public static TheoryData<long, int> Sizes() => new()
    {
        { 1440 << 10, 0 },
        { 1 << 20, 0 },
        { 8 << 20, 0 },
        { 33 << 20, 0 },
        { 100 << 20, 0 },
        { 256 << 20, 0 },
        { 100 << 20, 32 },
        { 64 << 20, 32 },
        { 20 << 20, 12 },
    };

    [SkippableTheory]
    [MemberData(nameof(Sizes))]
    public void Format_SameSizeAsMkfsFat_SameParameters(long size, int bits)
    {
        using var tmp = new TempDirectory();
        string theirs = tmp.File("mkfs.img");
        string ours = tmp.File("ours.img");
        foreach (string p in new[] { theirs, ours })
        {
            using var f = new FileStream(p, FileMode.Create);
            f.SetLength(size);
        }

        string[] args = bits == 0 ? ["-i", "1234ABCD", theirs] : ["-F", bits.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "1234ABCD", theirs];
        ToolResult r = Oracle.Run("mkfs.fat", args);
        Assert.True(r.ExitCode == 0, r.ToString());
        using (FileBlockDevice dev = FileBlockDevice.Open(ours, writable: true))
        {
            FatFileSystem.Format(dev, new FatFormatOptions { Type = bits == 0 ? null : (FatType)bits, VolumeId = 0x1234ABCD });
        }

        byte[] a = ReadBootSector(theirs);
        byte[] b = ReadBootSector(ours);
        Assert.Equal(Fields(a), Fields(b));
        using (FatFileSystem x = FatTestImages.Open(theirs))
        using (FatFileSystem y = FatTestImages.Open(ours))
        {
            Assert.Equal((x.Type, x.ClusterSize, x.ClusterCount, x.FreeClusters), (y.Type, y.ClusterSize, y.ClusterCount, y.FreeClusters));
        }

        FatTestImages.FsckClean(ours);
    }

    [SkippableFact]
    public void Format_600MiB_ChoosesFat32WithFourKiBClustersLikeMkfsFat()
    {
        using var dev = new ZeroFilledFile(600L << 20);
        FatFileSystem.Format(dev.Device, new FatFormatOptions { Label = "ESP" });
        using FatFileSystem fs = FatFileSystem.Open(dev.Device, leaveOpen: true);
        Assert.Equal((FatType.Fat32, 4096), (fs.Type, fs.ClusterSize));
        Assert.Equal("ESP", fs.Label);
        byte[] boot = new byte[512];
        dev.Device.ReadExactly(0, boot);
        Assert.Equal(32, BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(0x0E)));
        dev.Device.Flush();
        FatTestImages.FsckClean(dev.Path);
    }

    [SkippableFact]
    public void Format_ThenMcopy_FsckCleanAndReadsBack()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("ours.img");
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(40 << 20);
        }

        using (FileBlockDevice dev = FileBlockDevice.Open(image, writable: true))
        {
            FatFileSystem.Format(dev, new FatFormatOptions { Label = "Boot Disk" });
        }

        string src = tmp.File("src");
        FatTestImages.WriteSampleTree(src, 2048, 9);
        FatTestImages.McopyIn(image, src);
        FatTestImages.FsckClean(image);
        ToolResult label = FatTestImages.Mtools("mlabel", "-s", "-i", image, "::");
        Assert.Contains("BOOT DISK", label.StandardOutput, StringComparison.Ordinal);
        using FatFileSystem fs = FatTestImages.Open(image);
        FatTestImages.AssertSameTree(FatTestImages.HostTree(src), FatTestImages.Tree(fs), "mcopy into our format");
    }

    [Fact]
    public void Format_SameOptions_SameBytes()
    {
        string Hash()
        {
            using var dev = new MemoryBlockDevice(20 << 20);
            FatFileSystem.Format(dev, new FatFormatOptions { Label = "R", Timestamp = new UnixTime(1_600_000_000, 0) });
            byte[] all = new byte[dev.Length];
            dev.ReadExactly(0, all);
            return Convert.ToHexString(SHA256.HashData(all));
        }

        Assert.Equal(Hash(), Hash());
    }

    [Theory]
    [InlineData("toolonglabel")]
    [InlineData("bad:label")]
    public void Format_InvalidLabel_ThrowsArgumentException(string label)
    {
        using var dev = new MemoryBlockDevice(4 << 20);
        Assert.Throws<ArgumentException>(() => FatFileSystem.Format(dev, new FatFormatOptions { Label = label }));
    }

    [Fact]
    public void Format_TooSmallForFat32_ThrowsArgumentException()
    {
        using var dev = new MemoryBlockDevice(4 << 20);
        Assert.Throws<ArgumentException>(() => FatFileSystem.Format(dev, new FatFormatOptions { Type = FatType.Fat32 }));
    }

    private static byte[] ReadBootSector(string image)
    {
        byte[] b = new byte[512];
        using FileStream f = File.OpenRead(image);
        f.ReadExactly(b);
        return b;
    }

    /// <summary>bps, spc, reserved, FATs, root entries, total sectors, media, FAT size (16 and 32), root cluster, FSInfo, backup, type string.</summary>
    private static string Fields(byte[] b)
    {
        bool fat32 = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x16)) == 0;
        string common = string.Join(
            ",",
            BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x0B)),
            b[0x0D],
            BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x0E)),
            b[0x10],
            BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x11)),
            BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x13)),
            BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(0x20)),
            b[0x15],
            BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x16)));
        return fat32
            ? common + "," + string.Join(",", BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(0x24)), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(0x2C)), BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x30)), BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(0x32)), System.Text.Encoding.ASCII.GetString(b, 0x52, 8), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(0x43)))
            : common + "," + System.Text.Encoding.ASCII.GetString(b, 0x36, 8) + "," + BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(0x27));
    }

    /// <summary>A sparse scratch image file as a writable device.</summary>
    private sealed class ZeroFilledFile : IDisposable
    {
        private readonly TempDirectory _tmp = new();

        public ZeroFilledFile(long size)
        {
            Path = _tmp.File("image");
            using (var f = new FileStream(Path, FileMode.Create))
            {
                f.SetLength(size);
            }

            Device = FileBlockDevice.Open(Path, writable: true);
        }

        public string Path { get; }

        public FileBlockDevice Device { get; }

        public void Dispose()
        {
            Device.Dispose();
            _tmp.Dispose();
        }
    }
}
