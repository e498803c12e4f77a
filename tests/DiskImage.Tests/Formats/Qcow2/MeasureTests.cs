using System.Text.Json;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary><see cref="Qcow2Image.Measure(long, Qcow2CreateOptions?)"/> and its source overloads judged by <c>qemu-img measure --output=json</c> (qemu-utils 7.2).</summary>
public sealed class MeasureTests(ITestOutputHelper output)
{
    private static (long Required, long FullyAllocated, long? Bitmaps) QemuMeasure(params string[] args)
    {
        var all = new List<string> { "measure", "--output=json" };
        all.AddRange(args);
        ToolResult r = Oracle.Run("qemu-img", all, TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        using JsonDocument doc = JsonDocument.Parse(r.StandardOutput);
        JsonElement root = doc.RootElement;
        long? bitmaps = root.TryGetProperty("bitmaps", out JsonElement b) ? b.GetInt64() : null;
        return (root.GetProperty("required").GetInt64(), root.GetProperty("fully-allocated").GetInt64(), bitmaps);
    }

    private static string OptionString(Qcow2CreateOptions o) =>
        $"cluster_size={o.ClusterSize},compat={(o.Version == 3 ? "1.1" : "0.10")},refcount_bits={o.RefcountBits}" + (o.ExtendedL2 ? ",extended_l2=on" : string.Empty);

    public static IEnumerable<object[]> SizeCases()
    {
        long[] sizes = [0, 512, 1, 65536, 1_000_000, 1L << 30, 10L << 30, (1L << 40) + 4096, 3L << 40];
        int[] clusters = [512, 4096, 65536, 2 * 1024 * 1024];
        foreach (long size in sizes)
        {
            foreach (int cluster in clusters)
            {
                if (cluster == 512 && size > (64L << 30))
                {
                    continue;
                }

                yield return [size, cluster, 16, false, 3];
            }
        }

        yield return [1L << 30, 65536, 1, false, 3];
        yield return [1L << 30, 65536, 64, false, 3];
        yield return [5L << 30, 65536, 16, true, 3];
        yield return [5L << 30, 32768, 16, false, 2];
        yield return [(100L << 30) + 12345, 16384, 8, true, 3];
    }

    [SkippableTheory]
    [MemberData(nameof(SizeCases))]
    public void Measure_Size_MatchesQemuImgMeasure(long size, int clusterSize, int refcountBits, bool extendedL2, int version)
    {
        Oracle.Require("qemu-img");
        var options = new Qcow2CreateOptions { ClusterSize = clusterSize, RefcountBits = refcountBits, ExtendedL2 = extendedL2, Version = version };
        var qemu = QemuMeasure("-O", "qcow2", "-o", OptionString(options), "--size", size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Qcow2MeasureResult ours = Qcow2Image.Measure(size, options);
        output.WriteLine($"qemu {qemu} ours {ours}");
        Assert.Equal(qemu.Required, ours.Required);
        Assert.Equal(qemu.FullyAllocated, ours.FullyAllocated);
        Assert.Null(ours.Bitmaps);
    }

    [SkippableTheory]
    [InlineData("0.10", false)]
    [InlineData("1.1", false)]
    [InlineData("1.1", true)]
    public void Measure_Qcow2SourceVersion_BitmapsFieldOnlyForVersion3AsQemuImg(string compat, bool withBitmap)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string source = dir.File("src.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=" + compat, source, "16M");
        if (withBitmap)
        {
            Oracle.RunOk("qemu-img", "bitmap", "--add", source, "b0");
        }

        var qemu = QemuMeasure("-O", "qcow2", source);
        using DiskImageFile image = DiskImageFile.Open(source);
        Qcow2MeasureResult ours = Qcow2Image.Measure(image);
        output.WriteLine($"qemu {qemu} ours {ours}");
        Assert.Equal(qemu.Bitmaps, ours.Bitmaps);
        Assert.Equal(qemu.Required, ours.Required);
        Assert.Equal(compat == "0.10" ? null : 0L, withBitmap ? 0L : ours.Bitmaps);
    }

    [SkippableTheory]
    [InlineData(65536)]
    [InlineData(4096)]
    [InlineData(2 * 1024 * 1024)]
    public void Measure_SparseRawSource_MatchesQemuImgMeasure(int clusterSize)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw");
        using (var fs = new FileStream(raw, FileMode.Create))
        {
            fs.SetLength(64L << 20);
            byte[] data = new byte[8192];
            Array.Fill(data, (byte)0x5a);
            foreach (long at in new long[] { 0, 4096, 1 << 20, (3 << 20) + 12288, 40L << 20, (64L << 20) - 8192 })
            {
                fs.Position = at;
                fs.Write(data);
            }
        }

        var options = new Qcow2CreateOptions { ClusterSize = clusterSize };
        var qemu = QemuMeasure("-f", "raw", "-O", "qcow2", "-o", OptionString(options), raw);
        using FileBlockDevice source = FileBlockDevice.Open(raw);
        Qcow2MeasureResult ours = Qcow2Image.Measure(source, options);
        output.WriteLine($"qemu {qemu} ours {ours}");
        Assert.Equal(qemu.Required, ours.Required);
        Assert.Equal(qemu.FullyAllocated, ours.FullyAllocated);
    }

    [SkippableTheory]
    [InlineData("data", 65536, 3)]
    [InlineData("compressed", 65536, 3)]
    [InlineData("zero", 4096, 3)]
    [InlineData("bitmap", 65536, 3)]
    [InlineData("bitmap", 512, 3)]
    [InlineData("bitmap", 65536, 2)]
    [InlineData("backing", 65536, 3)]
    [InlineData("snapshots", 2 * 1024 * 1024, 3)]
    [InlineData("extended-l2", 16384, 2)]
    public void Measure_Qcow2Source_MatchesQemuImgMeasure(string recipe, int clusterSize, int version)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, recipe);
        var options = new Qcow2CreateOptions { ClusterSize = clusterSize, Version = version };
        var qemu = QemuMeasure("-O", "qcow2", "-o", OptionString(options), path);
        using Qcow2Image image = Qcow2Image.Open(path, new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow });
        Qcow2MeasureResult ours = Qcow2Image.Measure(image, options);
        output.WriteLine($"qemu {qemu} ours {ours}");
        Assert.Equal(qemu.Required, ours.Required);
        Assert.Equal(qemu.FullyAllocated, ours.FullyAllocated);
        Assert.Equal(qemu.Bitmaps, ours.Bitmaps);
    }

    [Fact]
    public void Measure_SizeTooLargeForL1_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Qcow2Image.Measure(long.MaxValue / 2, new Qcow2CreateOptions { ClusterSize = 512 }));
    }
}
