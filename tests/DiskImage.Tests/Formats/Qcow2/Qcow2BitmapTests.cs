using System.Globalization;
using System.Text.Json;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// Persistent dirty bitmaps made by <c>qemu-img bitmap --add</c> (qemu-utils 7.2) kept valid through
/// our writes exactly as QEMU keeps them: twin images receive the same random writes, one through
/// qemu-io and one through the library; afterwards <c>qemu-img check</c> finds no errors and no
/// leaks in ours, <c>qemu-img info</c> shows the same bitmaps (not in use), the stored bits are the
/// ones QEMU stored, and <c>qemu-img compare</c> finds the guest data identical.
/// </summary>
public sealed class Qcow2BitmapTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A qcow2 image with bitmaps: enabled ones of several granularities, a disabled one, and bits QEMU already set.</summary>
    private string MakeImage(string name, string createOptions, long size, bool inUseBitmap = false)
    {
        string path = _dir.File(name);
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", createOptions, path, size.ToString(CultureInfo.InvariantCulture));
        QemuIo(path, "qcow2", "write -P 0x11 0 192k");
        QemuImgOk("bitmap", "--add", path, "b0");
        QemuImgOk("bitmap", "--add", "-g", "512k", path, "big");
        QemuImgOk("bitmap", "--add", "-g", "4k", path, "fine");
        QemuImgOk("bitmap", "--add", "--disable", path, "off");
        QemuIo(path, "qcow2", "write -P 0x22 1M 100k", "write -z 3M 64k");
        QemuImgOk("bitmap", "--add", "-g", "128k", path, "late");
        QemuImgOk("bitmap", "--disable", path, "big");
        QemuImgOk("bitmap", "--enable", path, "big");
        if (inUseBitmap)
        {
            // qemu-io's abort leaves every bitmap marked in use: QEMU then treats them as inconsistent.
            ToolResult r = Oracle.Run("qemu-io", ["-c", "write -P 0x33 2M 4k", "-c", "abort", path], TimeSpan.FromMinutes(1));
            Assert.NotEqual(0, r.ExitCode);
        }

        return path;
    }

    private static List<(bool Zero, long Offset, int Length, byte Pattern)> RandomOps(int seed, long size, int clusterSize)
    {
        var rng = new Random(seed);
        var ops = new List<(bool, long, int, byte)>();
        int count = rng.Next(8, 24);
        for (int i = 0; i < count; i++)
        {
            bool aligned = rng.Next(3) == 0;
            long offset = rng.NextInt64(size - 1);
            if (aligned)
            {
                offset &= ~(long)(clusterSize - 1);
            }

            int length = (int)Math.Min(size - offset, rng.Next(1, rng.Next(4) == 0 ? 20 * clusterSize : 3 * clusterSize));
            ops.Add((rng.Next(5) == 0, offset, length, (byte)rng.Next(1, 255)));
        }

        return ops;
    }

    private static void ApplyOurs(string path, List<(bool Zero, long Offset, int Length, byte Pattern)> ops)
    {
        using Qcow2Image image = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true });
        foreach ((bool zero, long offset, int length, byte pattern) in ops)
        {
            if (zero)
            {
                image.Content.WriteZeroes(offset, length);
            }
            else
            {
                byte[] data = new byte[length];
                Array.Fill(data, pattern);
                image.Content.Write(offset, data);
            }
        }
    }

    private static void ApplyTheirs(string path, List<(bool Zero, long Offset, int Length, byte Pattern)> ops)
    {
        var commands = new List<string>();
        foreach ((bool zero, long offset, int length, byte pattern) in ops)
        {
            commands.Add(zero
                ? string.Create(CultureInfo.InvariantCulture, $"write -z {offset} {length}")
                : string.Create(CultureInfo.InvariantCulture, $"write -P {pattern} {offset} {length}"));
        }

        QemuIo(path, "qcow2", [.. commands]);
    }

    /// <summary>The bitmaps of qemu-img info --output=json (format-specific.data.bitmaps) as text, or "" when there are none.</summary>
    private static string InfoBitmaps(string path)
    {
        CliResult r = QemuImgOk("info", "--output=json", path);
        using JsonDocument doc = JsonDocument.Parse(r.StandardOutput);
        JsonElement data = doc.RootElement.GetProperty("format-specific").GetProperty("data");
        return data.TryGetProperty("bitmaps", out JsonElement b) ? b.GetRawText() : "";
    }

    private void AssertSameBitmaps(string ours, string theirs, string context)
    {
        (bool ourAutoclear, List<StoredBitmap> ourBitmaps) = BitmapReader.Read(ours);
        (bool theirAutoclear, List<StoredBitmap> theirBitmaps) = BitmapReader.Read(theirs);
        Assert.True(theirAutoclear, context);
        Assert.True(ourAutoclear, "autoclear bitmaps bit cleared\n" + context);
        Assert.Equal(theirBitmaps.Count, ourBitmaps.Count);
        for (int i = 0; i < theirBitmaps.Count; i++)
        {
            StoredBitmap t = theirBitmaps[i];
            StoredBitmap o = ourBitmaps[i];
            Assert.Equal(t.Name, o.Name);
            Assert.True(t.Flags == o.Flags, $"{t.Name}: flags qemu {t.Flags} ours {o.Flags}\n{context}");
            Assert.Equal(t.GranularityBits, o.GranularityBits);
            if (!t.Bits.AsSpan().SequenceEqual(o.Bits))
            {
                int at = t.Bits.AsSpan().CommonPrefixLength(o.Bits);
                Assert.Fail($"{t.Name}: bits differ at byte {at} (qemu 0x{t.Bits[at]:x2}, ours 0x{o.Bits[at]:x2})\n{context}");
            }
        }

        Assert.Equal(InfoBitmaps(theirs), InfoBitmaps(ours));
    }

    public static TheoryData<string, int> Layouts() => new()
    {
        { "cluster_size=65536", 1 },
        { "cluster_size=65536", 2 },
        { "cluster_size=65536", 3 },
        { "cluster_size=4096,refcount_bits=1", 4 },
        { "cluster_size=512", 5 },
        { "cluster_size=16384,extended_l2=on", 6 },
        { "cluster_size=2M,refcount_bits=64", 7 },
    };

    [SkippableTheory]
    [MemberData(nameof(Layouts))]
    public void Write_ImageWithBitmaps_BitmapsStoredAsQemuNoLeaks(string createOptions, int seed)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        long size = 40L << 20;
        string ours = MakeImage("ours.qcow2", createOptions, size);
        File.Copy(ours, _dir.File("theirs.qcow2"));
        string theirs = _dir.File("theirs.qcow2");
        int clusterSize = createOptions.Contains("2M", StringComparison.Ordinal) ? 2 << 20 : int.Parse(createOptions.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture);
        List<(bool Zero, long Offset, int Length, byte Pattern)> ops = RandomOps(seed, size, clusterSize);
        string context = $"seed {seed}, {createOptions}: " + string.Join("; ", ops);
        output.WriteLine(context);

        ApplyTheirs(theirs, ops);
        ApplyOurs(ours, ops);

        CliResult check = QemuImg("check", ours);
        Assert.True(check.ExitCode == 0, $"qemu-img check: {check}\n{context}");
        Assert.Contains("No errors were found", check.StandardOutput, StringComparison.Ordinal);
        AssertSameBitmaps(ours, theirs, context);
        Assert.DoesNotContain("in-use", InfoBitmaps(ours), StringComparison.Ordinal);
        Assert.Equal(0, QemuImg("compare", "-f", "qcow2", "-F", "qcow2", ours, theirs).ExitCode);
    }

    [SkippableFact]
    public void Write_BitmapsAlreadyInUse_KeptInconsistentAsQemuNoLeaks()
    {
        Oracle.Require("qemu-io");
        long size = 8L << 20;
        string ours = MakeImage("ours.qcow2", "cluster_size=65536", size, inUseBitmap: true);
        File.Copy(ours, _dir.File("theirs.qcow2"));
        string theirs = _dir.File("theirs.qcow2");
        List<(bool Zero, long Offset, int Length, byte Pattern)> ops = RandomOps(11, size, 65536);
        ApplyTheirs(theirs, ops);
        ApplyOurs(ours, ops);
        Assert.Equal(0, QemuImg("check", ours).ExitCode);
        AssertSameBitmaps(ours, theirs, "in-use bitmaps");
        Assert.Contains("in-use", InfoBitmaps(ours), StringComparison.Ordinal);

        // QEMU refuses to resize an image with an inconsistent bitmap; so do we.
        using Qcow2Image image = Qcow2Image.Open(ours, new DiskImageOpenOptions { Writable = true });
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => image.Resize(16L << 20));
        Assert.Contains("inconsistent", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Write_NotClosed_BitmapsInUseAndNothingLeaked()
    {
        Oracle.Require("qemu-img");
        string path = MakeImage("ours.qcow2", "cluster_size=65536", 16L << 20);
        string crashed = _dir.File("crashed.qcow2");
        using (Qcow2Image image = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            image.Content.Write(5 << 20, new byte[70000]);
            image.Content.Flush();

            // The file as a crash would leave it: bitmaps in use (QEMU: inconsistent), refcounts exact.
            File.Copy(path, crashed);
        }

        CliResult check = QemuImg("check", crashed);
        Assert.True(check.ExitCode == 0, check.ToString());
        string bitmaps = InfoBitmaps(crashed);
        Assert.Contains("in-use", bitmaps, StringComparison.Ordinal);
        Assert.Equal(0, QemuImg("check", path).ExitCode);
        Assert.DoesNotContain("in-use", InfoBitmaps(path), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData(64L << 20)]
    [InlineData((40L << 20) + 512)]
    public void Resize_ImageWithBitmaps_BitmapsFollowAsQemu(long newSize)
    {
        Oracle.Require("qemu-img");
        string ours = MakeImage("ours.qcow2", "cluster_size=65536", 40L << 20);
        File.Copy(ours, _dir.File("theirs.qcow2"));
        string theirs = _dir.File("theirs.qcow2");
        QemuImgOk("resize", "-f", "qcow2", theirs, newSize.ToString(CultureInfo.InvariantCulture));
        QemuIo(theirs, "qcow2", "write -P 7 38M 2M");
        using (Qcow2Image image = Qcow2Image.Open(ours, new DiskImageOpenOptions { Writable = true }))
        {
            image.Resize(newSize);
        }

        using (Qcow2Image image = Qcow2Image.Open(ours, new DiskImageOpenOptions { Writable = true }))
        {
            byte[] data = new byte[2 << 20];
            Array.Fill(data, (byte)7);
            image.Content.Write(38L << 20, data);
        }

        Assert.Equal(0, QemuImg("check", ours).ExitCode);
        AssertSameBitmaps(ours, theirs, $"resize to {newSize}");
    }

    [SkippableFact]
    public void Info_ImageWithBitmaps_SameTextAndJsonAsQemuImg()
    {
        Oracle.Require("qemu-img");
        string path = MakeImage("b.qcow2", "cluster_size=65536", 16L << 20, inUseBitmap: true);
        string clean = MakeImage("c.qcow2", "cluster_size=65536", 16L << 20);
        foreach (string image in (string[])[path, clean])
        {
            foreach (string format in (string[])["human", "json"])
            {
                CliResult expected = QemuImg("info", "--output=" + format, image);
                CliResult actual = Run("info", "--output=" + format, image);
                Assert.Equal(expected.ExitCode, actual.ExitCode);
                Assert.Equal(WithoutLines(expected.StandardOutput, "disk size", "actual-size"), WithoutLines(actual.StandardOutput, "disk size", "actual-size"));
            }
        }

        using Qcow2Image opened = Qcow2Image.Open(clean);
        Assert.Equal(["b0", "big", "fine", "off", "late"], opened.Bitmaps.Select(b => b.Name));
        Assert.Equal(4096, opened.Bitmaps[2].Granularity);
        Assert.Equal(Qcow2BitmapFlags.None, opened.Bitmaps[3].Flags);
    }
}
