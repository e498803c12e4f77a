using System.Buffers.Binary;
using DiskImage.IO;
using DiskImage.Lvm;

namespace DiskImage.Tests.Lvm;

/// <summary>Volume groups written and read back in memory: data through LVs, striping, the circular buffer, UUIDs.</summary>
public sealed class LvmVolumeGroupTests
{
    [Fact]
    public void Create_WriteThroughLvs_ReopenReadsSameBytes_StripesRotateEvery64K()
    {
        using var a = new MemoryBlockDevice(32 << 20);
        using var b = new MemoryBlockDevice(32 << 20);
        var options = new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20, RandomSeed = 1, CreationHost = "test", CreationTime = DateTimeOffset.UnixEpoch };
        LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [a, b], options);
        vg.CreateLogicalVolume("lin", 3 << 20);
        vg.CreateLogicalVolume("str", 4 << 20, new LvmLogicalVolumeCreateOptions { Stripes = 2 });
        byte[] data = new byte[4 << 20];
        new Random(5).NextBytes(data);
        using (BlockDevice str = vg.GetLogicalVolume("str")!.Open())
        {
            str.Write(0, data);
        }

        LvmVolumeGroup again = LvmVolumeGroup.Open([b, a]);
        Assert.Equal(vg.Uuid, again.Uuid);
        Assert.Equal(3, again.SequenceNumber);
        LvmLogicalVolume s = again.GetLogicalVolume("str")!;
        byte[] back = new byte[data.Length];
        using (BlockDevice str = s.Open(writable: false))
        {
            str.ReadExactly(0, back);
        }

        Assert.Equal(data, back);

        // Chunk 1 (bytes 64K..128K) is the first chunk of stripe 1.
        LvmStripe second = s.Segments[0].Stripes[1];
        byte[] chunk = new byte[64 << 10];
        second.PhysicalVolume.Device!.ReadExactly(second.PhysicalVolume.DataOffset + (second.StartExtent * again.ExtentSize), chunk);
        Assert.Equal(data.AsSpan(64 << 10, 64 << 10).ToArray(), chunk);
        Assert.Equal("/dev/mapper/vg-str", s.MapperPath);
    }

    [Fact]
    public void ManyCommits_WrapTheCircularBuffer_EveryVersionReadsBack()
    {
        using var a = new MemoryBlockDevice(64 << 20);
        var options = new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20, PhysicalVolume = new LvmPhysicalVolumeCreateOptions { DataOffset = 32 << 10 } };
        LvmVolumeGroup vg = LvmVolumeGroup.Create("my-vg", [a], options);
        bool wrapped = false;
        for (int i = 0; i < 40; i++)
        {
            vg.CreateLogicalVolume($"lv-{i}", 1 << 20);
            LvmMetadataArea area = LvmMetadataArea.Read(a, LvmLabel.TryRead(a)!.MetadataAreas[0]);
            wrapped |= (long)(area.TextOffset + area.TextSize) > area.Size;
            LvmVolumeGroup again = LvmVolumeGroup.Open([a]);
            Assert.Equal(vg.SequenceNumber, again.SequenceNumber);
            Assert.Equal(i + 1, again.LogicalVolumes.Count);
        }

        Assert.True(wrapped);
        Assert.Equal("/dev/mapper/my--vg-lv--3", vg.GetLogicalVolume("lv-3")!.MapperPath);
    }

    [Fact]
    public void TextTooLargeForArea_InvalidOperationException_OldVersionKept()
    {
        using var a = new MemoryBlockDevice(256 << 20);
        var options = new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20, PhysicalVolume = new LvmPhysicalVolumeCreateOptions { DataOffset = 8 << 10 } };
        LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [a], options);
        Assert.Throws<InvalidOperationException>(() =>
        {
            for (int i = 0; i < 200; i++)
            {
                vg.CreateLogicalVolume($"lv{i}", 1 << 20);
            }
        });
        LvmVolumeGroup again = LvmVolumeGroup.Open([a]);
        Assert.True(again.LogicalVolumes.Count > 0);
    }

    [Fact]
    public void RegenerateUuids_NewVgPvLvIds_LabelsFollow()
    {
        using var a = new MemoryBlockDevice(16 << 20);
        LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [a], new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20 });
        vg.CreateLogicalVolume("lv", 2 << 20);
        string vgId = vg.Uuid, pvId = vg.PhysicalVolumes[0].Uuid, lvId = vg.LogicalVolumes[0].Uuid;
        vg.RegenerateUuids();
        LvmVolumeGroup again = LvmVolumeGroup.Open([a]);
        Assert.NotEqual(vgId, again.Uuid);
        Assert.NotEqual(pvId, again.PhysicalVolumes[0].Uuid);
        Assert.NotEqual(lvId, again.LogicalVolumes[0].Uuid);
        Assert.False(again.PhysicalVolumes[0].IsMissing);
        Assert.Equal(vg.SequenceNumber, again.SequenceNumber);
    }

    [Fact]
    public void MissingPv_LvsOnItRefused_VgReadOnly()
    {
        using var a = new MemoryBlockDevice(16 << 20);
        using var b = new MemoryBlockDevice(16 << 20);
        LvmVolumeGroup vg = LvmVolumeGroup.Create("vg", [a, b], new LvmVolumeGroupCreateOptions { ExtentSize = 1 << 20 });
        vg.CreateLogicalVolume("on-a", 2 << 20);
        vg.CreateLogicalVolume("both", 2 << 20, new LvmLogicalVolumeCreateOptions { Stripes = 2 });
        LvmVolumeGroup partial = LvmVolumeGroup.Open([a]);
        Assert.True(partial.PhysicalVolumes[1].IsMissing);
        Assert.False(partial.CanWrite);
        Assert.True(partial.GetLogicalVolume("on-a")!.CanOpen);
        Assert.Throws<InvalidOperationException>(() => partial.GetLogicalVolume("both")!.Open());
        Assert.Throws<InvalidOperationException>(() => partial.CreateLogicalVolume("x", 1 << 20));
    }

    [Fact]
    public void Create_OnPvOfAnotherVg_Refused_AndBadNamesRefused()
    {
        using var a = new MemoryBlockDevice(16 << 20);
        LvmVolumeGroup.Create("vg", [a]);
        Assert.Throws<InvalidOperationException>(() => LvmVolumeGroup.Create("vg2", [a]));
        using var b = new MemoryBlockDevice(16 << 20);
        Assert.Throws<ArgumentException>(() => LvmVolumeGroup.Create("-bad", [b]));
        LvmVolumeGroup vg = LvmVolumeGroup.Create("ok", [b]);
        Assert.Throws<ArgumentException>(() => vg.CreateLogicalVolume("x_tmeta", 1 << 20));
        Assert.Throws<ArgumentException>(() => vg.CreateLogicalVolume("snapshot1", 1 << 20));
    }

    [Fact]
    public void PhysicalVolumeCreate_LabelInSector1_Crcs()
    {
        using var a = new MemoryBlockDevice(8 << 20);
        LvmPhysicalVolume pv = LvmPhysicalVolume.Create(a, new LvmPhysicalVolumeCreateOptions { Uuid = "v0nQZe-Imay-TI0F-oGLT-JA5F-BUaA-9lkfnU" });
        Assert.Equal("v0nQZe-Imay-TI0F-oGLT-JA5F-BUaA-9lkfnU", pv.Uuid);
        Assert.True(LvmPhysicalVolume.IsPhysicalVolume(a));
        Span<byte> sector = stackalloc byte[512];
        a.ReadExactly(512, sector);
        Assert.True(sector[..8].SequenceEqual("LABELONE"u8));
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64LittleEndian(sector[8..]));
        Assert.Empty(LvmVolumeGroup.FindAll([a]));
    }
}
