using System.Globalization;
using System.Text.Json;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>GetInfo and EnumerateAllocation agree with <c>qemu-img info/map --output=json</c> (oracle: qemu-utils 7.2).</summary>
public sealed class Qcow2InfoMapTests
{
    private static readonly DiskImageOpenOptions s_allowBacking = new() { BackingFiles = BackingFilePolicy.Allow };

    public static TheoryData<string> Kinds => new() { "v3", "v2", "zstd-ext", "512-r1", "lazy", "backing-chain", "snapshot", "prealloc", "ours-ext" };

    /// <summary>Builds an image of the given kind in <paramref name="dir"/>; returns its path (relative names as a user would type them).</summary>
    private static string Build(string kind, TempDirectory dir)
    {
        string P(string n) => dir.File(n);
        switch (kind)
        {
            case "v3":
                QemuTool.Img("create", "-q", "-f", "qcow2", P("t.qcow2"), "8M");
                QemuTool.Io(P("t.qcow2"), ["write -P 1 0 256k", "write -z 1M 128k", "write -c -P 2 3M 64k", "write -P 3 5M 64k", "write -P 4 6M 64k", "write -z 6M 64k"]);
                return P("t.qcow2");
            case "v2":
                QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4096", P("t.qcow2"), "4M");
                QemuTool.Io(P("t.qcow2"), ["write -P 1 4096 20k", "write -c -P 2 1M 4k", "write -P 3 2M 64k"]);
                return P("t.qcow2");
            case "zstd-ext":
                QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd,extended_l2=on", P("t.qcow2"), "8M");
                QemuTool.Io(P("t.qcow2"), ["write -c -P 2 0 64k", "write -P 1 128k 4k", "write -z 256k 8k", "write -P 3 300k 2k", "write -P 4 1M 130k"]);
                return P("t.qcow2");
            case "512-r1":
                QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=1", P("t.qcow2"), "2M");
                QemuTool.Io(P("t.qcow2"), ["write -P 1 0 3k", "write -z 8k 2k", "write -P 3 1M 1536"]);
                return P("t.qcow2");
            case "lazy":
                QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on,refcount_bits=64", P("t.qcow2"), "3M");
                return P("t.qcow2");
            case "backing-chain":
            {
                byte[] raw = new byte[3 << 20];
                new Random(5).NextBytes(raw.AsSpan(0, 1 << 20));
                File.WriteAllBytes(P("base.raw"), raw);
                QemuTool.Img("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", P("mid.qcow2"), "6M");
                QemuTool.Io(P("mid.qcow2"), ["write -P 2 1M 64k", "write -z 2M 64k", "write -P 7 4M 64k"]);
                QemuTool.Img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", P("top.qcow2"), "8M");
                QemuTool.Io(P("top.qcow2"), ["write -P 3 3M 64k", "write -c -P 4 5M 64k", "write -z 4M 64k"]);
                return P("top.qcow2");
            }

            case "snapshot":
                QemuTool.Img("create", "-q", "-f", "qcow2", P("t.qcow2"), "4M");
                QemuTool.Io(P("t.qcow2"), ["write -P 1 0 128k"]);
                QemuTool.Img("snapshot", "-c", "first", P("t.qcow2"));
                QemuTool.Io(P("t.qcow2"), ["write -P 2 64k 128k"]);
                QemuTool.Img("snapshot", "-c", "second", P("t.qcow2"));
                return P("t.qcow2");
            case "prealloc":
                using (Qcow2Image.Create(P("t.qcow2"), 3 << 20, new Qcow2CreateOptions { Preallocation = Qcow2Preallocation.Metadata }))
                {
                }

                return P("t.qcow2");
            case "ours-ext":
                using (Qcow2Image q = Qcow2Image.Create(P("t.qcow2"), 4 << 20, new Qcow2CreateOptions { ExtendedL2 = true, ClusterSize = 32768 }))
                {
                    q.Content.Write(1000, new byte[5000]);
                    q.Content.WriteZeroes(70000, 40000);
                    q.Content.Write(2 << 20, Enumerable.Repeat((byte)9, 100_000).ToArray());
                }

                return P("t.qcow2");
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void GetInfo_Image_MatchesQemuImgInfoJson(string kind)
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = Build(kind, dir);
        using JsonDocument doc = JsonDocument.Parse(QemuTool.Img("info", "--output=json", path).StandardOutput);
        JsonElement q = doc.RootElement;
        using Qcow2Image image = Qcow2Image.Open(path, s_allowBacking);
        ImageInfo info = image.GetInfo();

        Assert.Equal(q.GetProperty("filename").GetString(), info.FileName);
        Assert.Equal("qcow2", q.GetProperty("format").GetString());
        Assert.Equal(DiskImageFormat.Qcow2, info.Format);
        Assert.Equal(q.GetProperty("virtual-size").GetInt64(), info.VirtualSize);
        Assert.Equal(q.GetProperty("actual-size").GetInt64(), info.ActualSize);
        Assert.Equal(q.GetProperty("cluster-size").GetInt32(), info.ClusterSize);
        Assert.Equal(q.GetProperty("dirty-flag").GetBoolean(), info.DirtyFlag);
        Assert.Equal(Optional(q, "backing-filename"), info.BackingFileName);
        Assert.Equal(Optional(q, "full-backing-filename"), info.FullBackingFileName);
        Assert.Equal(Optional(q, "backing-filename-format"), info.BackingFileFormat);
        Assert.Equal(q.TryGetProperty("encrypted", out JsonElement enc) && enc.GetBoolean(), info.Encrypted);

        JsonElement data = q.GetProperty("format-specific").GetProperty("data");
        Qcow2FormatInfo f = info.Qcow2!;
        Assert.Equal(data.GetProperty("compat").GetString(), f.Compat);
        Assert.Equal(data.GetProperty("compression-type").GetString(), f.CompressionType == Qcow2CompressionType.Zstd ? "zstd" : "zlib");
        Assert.Equal(data.GetProperty("refcount-bits").GetInt32(), f.RefcountBits);
        if (f.Compat == "1.1")
        {
            Assert.Equal(data.GetProperty("lazy-refcounts").GetBoolean(), f.LazyRefcounts);
            Assert.Equal(data.GetProperty("corrupt").GetBoolean(), f.Corrupt);
            Assert.Equal(data.GetProperty("extended-l2").GetBoolean(), f.ExtendedL2);
        }

        JsonElement[] snaps = q.TryGetProperty("snapshots", out JsonElement s) ? [.. s.EnumerateArray()] : [];
        Assert.Equal(snaps.Length, info.Snapshots.Count);
        for (int i = 0; i < snaps.Length; i++)
        {
            Qcow2Snapshot ours = info.Snapshots[i];
            Assert.Equal(snaps[i].GetProperty("id").GetString(), ours.Id);
            Assert.Equal(snaps[i].GetProperty("name").GetString(), ours.Name);
            Assert.Equal(snaps[i].GetProperty("vm-state-size").GetInt64(), ours.VmStateSize);
            Assert.Equal(snaps[i].GetProperty("date-sec").GetInt64(), ours.DateSeconds);
            Assert.Equal(snaps[i].GetProperty("date-nsec").GetInt64(), ours.DateNanoseconds);
            long clock = (snaps[i].GetProperty("vm-clock-sec").GetInt64() * 1_000_000_000) + snaps[i].GetProperty("vm-clock-nsec").GetInt64();
            Assert.Equal(clock, ours.VmClockNanoseconds);
            if (snaps[i].TryGetProperty("icount", out JsonElement icount))
            {
                Assert.Equal(icount.GetInt64(), ours.InstructionCount);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public void EnumerateAllocation_Image_MatchesQemuImgMapJson(string kind)
    {
        Oracle.Require("qemu-io");
        if (kind == "prealloc")
        {
            // qemu reports preallocated clusters through the host file's holes (zero and data both
            // true), which an allocation kind does not express; covered by check/compare elsewhere.
            return;
        }

        using var dir = new TempDirectory();
        string path = Build(kind, dir);
        string expected = Normalize(QemuTool.Img("map", "--output=json", path).StandardOutput);
        using Qcow2Image image = Qcow2Image.Open(path, s_allowBacking);
        var lines = new List<string>();
        foreach (AllocationExtent e in image.Content.EnumerateAllocation())
        {
            bool present = e.Kind != AllocationKind.Unallocated;
            bool zero = e.Kind != AllocationKind.Data;
            bool isData = e.Kind == AllocationKind.Data;
            string offset = e.HostOffset >= 0 ? string.Create(CultureInfo.InvariantCulture, $", \"offset\": {e.HostOffset}") : string.Empty;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{{ \"start\": {e.Offset}, \"length\": {e.Length}, \"depth\": {e.Depth}, \"present\": {Bool(present)}, \"zero\": {Bool(zero)}, \"data\": {Bool(isData)}{offset}}}"));
        }

        Assert.Equal(expected, Normalize("[" + string.Join(",\n", lines) + "]"));
    }

    private static string Bool(bool b) => b ? "true" : "false";

    private static string Normalize(string json) => string.Join('\n', json.Trim().Split('\n', StringSplitOptions.TrimEntries));

    private static string? Optional(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.GetString() : null;
}
