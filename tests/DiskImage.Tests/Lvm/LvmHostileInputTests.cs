using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using DiskImage.IO;
using DiskImage.Lvm;

namespace DiskImage.Tests.Lvm;

/// <summary>Malformed labels, metadata areas and metadata text: InvalidDataException, in bounded time and memory.</summary>
public sealed class LvmHostileInputTests
{
    private const string GoodText = """
        vg0 {
        id = "eoH7BO-L0qh-kvJo-6DI8-bGet-B8rQ-OrEJVP"
        seqno = 5
        format = "lvm2"
        status = ["RESIZEABLE", "READ", "WRITE"]
        flags = []
        extent_size = 2048
        physical_volumes {
        pv0 {
        id = "PVIDPVIDPVIDPVIDPVIDPVIDPVIDPVID"
        device = "/dev/loop0"
        status = ["ALLOCATABLE"]
        dev_size = 32768
        pe_start = 2048
        pe_count = 15
        }
        }
        logical_volumes {
        root {
        id = "Pw15Vm-qDx6-Nh09-JHYW-W5Lk-3DHf-wxxesS"
        status = ["READ", "WRITE", "VISIBLE"]
        segment_count = 1
        segment1 {
        start_extent = 0
        extent_count = 4
        type = "striped"
        stripe_count = 1
        stripes = ["pv0", 2]
        }
        }
        }
        }
        contents = "Text Format Volume Group"
        version = 1
        """;

    /// <summary>A 16 MiB PV (id PVIDPVID…) whose metadata area holds <paramref name="text"/> with correct checksums.</summary>
    internal static MemoryBlockDevice WithText(string text)
    {
        var device = new MemoryBlockDevice(16 << 20);
        LvmVolumeGroupWriter.WritePhysicalVolume(device, "PVIDPVIDPVIDPVIDPVIDPVIDPVIDPVID", text.Length > 400_000 ? 8 << 20 : 1 << 20, null);
        LvmLabel label = LvmLabel.TryRead(device)!;
        LvmMetadataArea area = LvmMetadataArea.Read(device, label.MetadataAreas[0]);
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        area.WriteText(bytes);
        return device;
    }

    [Fact]
    public void FindAll_WellFormedHandWrittenText_Reads()
    {
        using MemoryBlockDevice device = WithText(GoodText);
        LvmVolumeGroup vg = Assert.Single(LvmVolumeGroup.FindAll([device]));
        LvmLogicalVolume root = vg.GetLogicalVolume("root")!;
        Assert.Equal(4L << 20, root.Size);
        using BlockDevice lv = root.Open();
        Assert.Equal(4L << 20, lv.Length);
    }

    public static TheoryData<string, string> BadTexts => new()
    {
        { "extent overflow", GoodText.Replace("extent_count = 4", "extent_count = 9223372036854775807", StringComparison.Ordinal) },
        { "segment beyond PV", GoodText.Replace("stripes = [\"pv0\", 2]", "stripes = [\"pv0\", 13]", StringComparison.Ordinal) },
        { "unknown PV", GoodText.Replace("stripes = [\"pv0\", 2]", "stripes = [\"pv7\", 2]", StringComparison.Ordinal) },
        { "pe_count beyond device", GoodText.Replace("pe_count = 15", "pe_count = 4000000000000", StringComparison.Ordinal) },
        { "negative extent", GoodText.Replace("start_extent = 0", "start_extent = -1", StringComparison.Ordinal) },
        { "gap between segments", GoodText.Replace("start_extent = 0", "start_extent = 1", StringComparison.Ordinal) },
        { "segment_count wrong", GoodText.Replace("segment_count = 1", "segment_count = 2", StringComparison.Ordinal) },
        { "bad id", GoodText.Replace("Pw15Vm-qDx6", "Pw15Vm-q?x6", StringComparison.Ordinal) },
        { "integer overflow", GoodText.Replace("seqno = 5", "seqno = 99999999999999999999999", StringComparison.Ordinal) },
        { "duplicate key", GoodText.Replace("seqno = 5", "seqno = 5\nseqno = 6", StringComparison.Ordinal) },
        { "unclosed section", GoodText[..GoodText.LastIndexOf('}')] },
        { "unclosed string", GoodText.Replace("\"lvm2\"", "\"lvm2", StringComparison.Ordinal) },
        { "two VGs", GoodText + "\nvg1 { }" },
        { "stripe_size not dividing extent", GoodText.Replace("stripe_count = 1", "stripe_count = 1\nstripe_size = 3", StringComparison.Ordinal).Replace("extent_count = 4", "extent_count = 4", StringComparison.Ordinal).Replace("stripe_count = 1\n", "stripe_count = 2\n", StringComparison.Ordinal).Replace("stripes = [\"pv0\", 2]", "stripes = [\"pv0\", 2, \"pv0\", 8]", StringComparison.Ordinal) },
        { "overlapping LVs", GoodText.Replace("logical_volumes {", "logical_volumes {\nother {\nid = \"Pw15Vm-qDx6-Nh09-JHYW-W5Lk-3DHf-wxxesT\"\nstatus = [\"VISIBLE\"]\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 2\ntype = \"striped\"\nstripe_count = 1\nstripes = [\"pv0\", 3]\n}\n}", StringComparison.Ordinal) },
        { "deep nesting", "vg0 {" + string.Concat(Enumerable.Repeat("a {", 100_000)) },
        { "huge array", "vg0 {\nx = [" + string.Concat(Enumerable.Repeat("1,", 1_200_000)) + "1]\n}" },
    };

    [Theory]
    [MemberData(nameof(BadTexts))]
    public void FindAll_MalformedText_InvalidDataException(string name, string text)
    {
        using MemoryBlockDevice device = WithText(text);
        var watch = Stopwatch.StartNew();
        Assert.Throws<InvalidDataException>(() => LvmVolumeGroup.FindAll([device]));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), name);
    }

    [Fact]
    public void FindAll_HugeRawLocnSize_InvalidDataException_WithoutAllocating()
    {
        using MemoryBlockDevice device = WithText(GoodText);
        Span<byte> h = stackalloc byte[512];
        device.ReadExactly(4096, h);
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], ulong.MaxValue / 2);
        BinaryPrimitives.WriteUInt32LittleEndian(h, LvmCrc.Compute(h[4..]));
        device.Write(4096, h);
        Assert.Throws<InvalidDataException>(() => LvmVolumeGroup.FindAll([device]));
    }

    [Theory]
    [InlineData(512 + 100)] // label: pv_header
    [InlineData(4096 + 100)] // mda_header
    [InlineData((4096 + 512) + 10)] // the text
    public void FindAll_FlippedByte_ChecksumMismatch_InvalidDataException(int offset)
    {
        using MemoryBlockDevice device = WithText(GoodText);
        Span<byte> b = stackalloc byte[1];
        device.ReadExactly(offset, b);
        b[0] ^= 0x20;
        device.Write(offset, b);
        Assert.Throws<InvalidDataException>(() => LvmVolumeGroup.FindAll([device]));
        Assert.Equal(offset >= 4096, LvmPhysicalVolume.IsPhysicalVolume(device));
    }

    [Theory]
    [InlineData("thin-pool")]
    [InlineData("raid1")]
    [InlineData("snapshot")]
    [InlineData("cache")]
    [InlineData("mirror")]
    public void Open_UnsupportedSegmentType_ListedButNotSupported(string type)
    {
        using MemoryBlockDevice device = WithText(GoodText.Replace("type = \"striped\"", $"type = \"{type}\"", StringComparison.Ordinal));
        LvmVolumeGroup vg = LvmVolumeGroup.Open([device]);
        LvmLogicalVolume root = vg.GetLogicalVolume("root")!;
        Assert.False(root.CanOpen);
        Assert.Equal(type, root.Segments[0].Type);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => root.Open());
        Assert.Contains(type, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindAll_SeededByteMutations_OnlyInvalidDataOrNotSupported()
    {
        const int Seed = 20261207;
        var random = new Random(Seed);
        using MemoryBlockDevice good = WithText(GoodText);
        byte[] original = new byte[8192];
        good.ReadExactly(0, original);
        using var device = new MemoryBlockDevice(16 << 20);
        for (int round = 0; round < 400; round++)
        {
            byte[] image = (byte[])original.Clone();
            int flips = random.Next(1, 6);
            for (int f = 0; f < flips; f++)
            {
                image[random.Next(512, image.Length)] = (byte)random.Next(256);
            }

            // Recompute checksums half the time, so the parser and the importer see the damage too.
            if (round % 2 == 0)
            {
                FixChecksums(image);
            }

            device.Write(0, image);
            try
            {
                foreach (LvmVolumeGroup vg in LvmVolumeGroup.FindAll([device]))
                {
                    foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
                    {
                        if (lv.CanOpen)
                        {
                            using BlockDevice d = lv.Open();
                            byte[] buffer = new byte[4096];
                            d.Read(0, buffer);
                            d.Read(d.Length - 1, buffer.AsSpan(0, 1));
                        }
                    }
                }
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"Seed {Seed}, round {round}: {e}");
            }
        }
    }

    private static void FixChecksums(byte[] image)
    {
        Span<byte> label = image.AsSpan(512, 512);
        BinaryPrimitives.WriteUInt32LittleEndian(label[16..], LvmCrc.Compute(label[20..]));
        Span<byte> h = image.AsSpan(4096, 512);
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(h[40..]);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(h[48..]);
        if (offset == 512 && size < 3000)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(h[56..], LvmCrc.Compute(image.AsSpan(4096 + 512, (int)size)));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(h, LvmCrc.Compute(h[4..]));
    }
}
