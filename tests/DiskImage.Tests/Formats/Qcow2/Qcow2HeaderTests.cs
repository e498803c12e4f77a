using System.Buffers.Binary;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Header handling on write: extensions kept, unknown autoclear bits cleared, unknown features refused (oracle: qemu-utils 7.2).</summary>
public sealed class Qcow2HeaderTests
{
    [SkippableFact]
    public void Write_ImageWithBitmap_KeepsBitmapsClearsUnknownAutoclearAndQemuAgrees()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = dir.File("b.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", path, "4M");
        QemuTool.Img("bitmap", "--add", path, "bm0");
        QemuTool.Io(path, ["write -P 1 0 64k"]);
        byte[] before = File.ReadAllBytes(path);
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64BigEndian(before.AsSpan(88)));

        // Also set an unknown autoclear bit: a writer must clear it, and keep the bitmaps bit it maintains.
        before[88] = 0x80;
        File.WriteAllBytes(path, before);
        using (Qcow2Image image = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            image.Content.Write(70000, new byte[] { 5 });
        }

        byte[] after = File.ReadAllBytes(path);
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64BigEndian(after.AsSpan(88)));

        // The bitmap was written back (a new directory and table): nothing leaked, nothing stale.
        var check = QemuTool.Check(path);
        Assert.True(check.ExitCode == 0 && check.Leaks == 0, check.Output);
        byte[] expected = new byte[4 << 20];
        expected.AsSpan(0, 65536).Fill(1);
        expected[70000] = 5;
        File.WriteAllBytes(dir.File("e.raw"), expected);
        QemuTool.AssertSameAsRaw(path, dir.File("e.raw"), "bitmap image after write");
        string info = QemuTool.Img("info", path).StandardOutput;
        Assert.Contains("name: bm0", info, StringComparison.Ordinal);
        Assert.DoesNotContain("in-use", info, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_UnknownIncompatibleBit_NamesFeatureFromTable()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", path, "1M");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[72 + 7 - 5] = 0x01; // bit 40
        // Rename "dirty bit" (incompatible 0) entry to describe bit 40 instead.
        int table = bytes.AsSpan().IndexOf("dirty bit"u8) - 2;
        bytes[table + 1] = 40;
        "fancy feature\0"u8.CopyTo(bytes.AsSpan(table + 2));
        File.WriteAllBytes(path, bytes);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(path));
        Assert.Contains("fancy feature", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_DirtyImage_ReadOnlyLeavesItWritableRepairsIt()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", path, "1M");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[79] |= 1;
        File.WriteAllBytes(path, bytes);
        using (Qcow2Image ro = Qcow2Image.Open(path))
        {
            Assert.True(ro.GetInfo().DirtyFlag);
        }

        Assert.Equal(bytes, File.ReadAllBytes(path));
        using (Qcow2Image rw = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            Assert.False(rw.GetInfo().DirtyFlag);
        }

        Assert.Equal(0, File.ReadAllBytes(path)[79] & 1);
    }

    [SkippableFact]
    public void Open_CorruptImageWritable_RefusedReadOnlyAllowed()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", path, "1M");
        byte[] bytes = File.ReadAllBytes(path);
        bytes[79] |= 2;
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }));
        using Qcow2Image ro = Qcow2Image.Open(path);
        Assert.True(ro.GetInfo().Qcow2!.Corrupt);
    }

    [Fact]
    public void Header_ParseWriteFixed_KeepsUnknownTrailingBytes()
    {
        byte[] raw = new byte[512];
        BinaryPrimitives.WriteUInt32BigEndian(raw, Qcow2Image.Magic);
        BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(4), 3);
        BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(20), 16);
        BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(24), 1 << 20);
        BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(96), 4);
        BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(100), 128);
        for (int i = 105; i < 128; i++)
        {
            raw[i] = (byte)i;
        }

        Qcow2Header h = Qcow2Header.Parse(raw);
        Assert.Equal(128, h.HeaderLength);
        h.Size = 2 << 20;
        byte[] back = new byte[128];
        h.WriteFixedTo(back);
        Assert.True(raw.AsSpan(105, 23).SequenceEqual(back.AsSpan(105, 23)));
        Assert.Equal(2UL << 20, BinaryPrimitives.ReadUInt64BigEndian(back.AsSpan(24)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void Refcounts_SetGet_RoundTripsEveryWidth(int order)
    {
        byte[] block = new byte[512];
        int entries = 512 * 8 >> order;
        ulong max = order == 6 ? ulong.MaxValue : (1UL << (1 << order)) - 1;
        for (int i = 0; i < entries; i++)
        {
            Qcow2Refcounts.Set(block, i, order, (ulong)(i * 7919) & max);
        }

        for (int i = 0; i < entries; i++)
        {
            Assert.Equal((ulong)(i * 7919) & max, Qcow2Refcounts.Get(block, i, order));
        }
    }

    [Theory]
    [InlineData(9)]
    [InlineData(16)]
    [InlineData(21)]
    public void CompressedDescriptor_EncodeParse_RoundTrips(int clusterBits)
    {
        long offset = (1L << 30) + 0x4f;
        int length = (1 << clusterBits) - 100;
        ulong entry = Qcow2CompressedClusterDescriptor.Encode(offset, length, clusterBits);
        Qcow2CompressedClusterDescriptor d = Qcow2CompressedClusterDescriptor.Parse(entry, clusterBits);
        Assert.Equal(offset, d.HostOffset);
        Assert.True(d.CompressedLength >= length);
        Assert.True(d.CompressedLength < length + 512);
    }
}
