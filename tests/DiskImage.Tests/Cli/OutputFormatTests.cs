using DiskImage.Cli;
using DiskImage.Cli.Commands;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;

namespace DiskImage.Tests.Cli;

/// <summary>Output shapes checked against texts recorded from qemu-img 7.2 (no oracle needed to run).</summary>
public class OutputFormatTests
{
    [Fact]
    public void InfoJson_Version2Image_MatchesRecordedQemuImgOutput()
    {
        var info = new ImageInfo
        {
            FileName = "b.qcow2",
            Format = DiskImageFormat.Qcow2,
            VirtualSize = 104857600,
            ActualSize = 16384,
            ClusterSize = 4096,
            Qcow2 = new Qcow2FormatInfo { Compat = "0.10", Version = 2, RefcountBits = 16 },
        };
        const string Expected = """
            {
                "virtual-size": 104857600,
                "filename": "b.qcow2",
                "cluster-size": 4096,
                "format": "qcow2",
                "actual-size": 16384,
                "format-specific": {
                    "type": "qcow2",
                    "data": {
                        "compat": "0.10",
                        "compression-type": "zlib",
                        "refcount-bits": 16
                    }
                },
                "dirty-flag": false
            }
            """;
        Assert.Equal(Expected.Replace("\r\n", "\n", StringComparison.Ordinal), QemuJson.Format(InfoCommand.ToJson(info, "b.qcow2")));
    }

    [Fact]
    public void InfoJson_OverlayWithSnapshot_MatchesRecordedQemuImgOutput()
    {
        var info = new ImageInfo
        {
            FileName = "sub/o.qcow2",
            Format = DiskImageFormat.Qcow2,
            VirtualSize = 1073741824,
            ClusterSize = 65536,
            BackingFileName = "../a.qcow2",
            BackingFileFormat = "qcow2",
            Snapshots = [new Qcow2Snapshot { Id = "1", Name = "snap1", DateSeconds = 1795784850, DateNanoseconds = 29246000, InstructionCount = 0 }],
            Qcow2 = new Qcow2FormatInfo { Compat = "1.1", Version = 3, RefcountBits = 16, CompressionType = Qcow2CompressionType.Zstd },
        };
        const string Expected = """
            {
                "backing-filename-format": "qcow2",
                "snapshots": [
                    {
                        "icount": 0,
                        "vm-clock-nsec": 0,
                        "name": "snap1",
                        "date-sec": 1795784850,
                        "date-nsec": 29246000,
                        "vm-clock-sec": 0,
                        "id": "1",
                        "vm-state-size": 0
                    }
                ],
                "virtual-size": 1073741824,
                "filename": "sub/o.qcow2",
                "cluster-size": 65536,
                "format": "qcow2",
                "format-specific": {
                    "type": "qcow2",
                    "data": {
                        "compat": "1.1",
                        "compression-type": "zstd",
                        "lazy-refcounts": false,
                        "refcount-bits": 16,
                        "corrupt": false,
                        "extended-l2": false
                    }
                },
                "full-backing-filename": "sub/../a.qcow2",
                "backing-filename": "../a.qcow2",
                "dirty-flag": false
            }
            """;
        Assert.Equal(Expected.Replace("\r\n", "\n", StringComparison.Ordinal), QemuJson.Format(InfoCommand.ToJson(info, "sub/o.qcow2")));
    }

    [Fact]
    public void InfoHuman_DirtyOverlay_MatchesQemuImgLayout()
    {
        var info = new ImageInfo
        {
            FileName = "c.qcow2",
            Format = DiskImageFormat.Qcow2,
            VirtualSize = 1048576,
            ActualSize = 200704,
            ClusterSize = 65536,
            DirtyFlag = true,
            BackingFileName = "a.qcow2",
            BackingFileFormat = "qcow2",
            Qcow2 = new Qcow2FormatInfo { Compat = "1.1", Version = 3, RefcountBits = 16, LazyRefcounts = true },
        };
        const string Expected = """
            image: dir/c.qcow2
            file format: qcow2
            virtual size: 1 MiB (1048576 bytes)
            disk size: 196 KiB
            cluster_size: 65536
            cleanly shut down: no
            backing file: a.qcow2 (actual path: dir/a.qcow2)
            backing file format: qcow2
            Format specific information:
                compat: 1.1
                compression type: zlib
                lazy refcounts: true
                refcount bits: 16
                corrupt: false
                extended l2: false

            """;
        Assert.Equal(Expected.Replace("\r\n", "\n", StringComparison.Ordinal), InfoCommand.ToHuman(info, "dir/c.qcow2"));
    }

    [Fact]
    public void CheckJson_ZeroCountersOmitted_LikeQemuImg()
    {
        var result = new Qcow2CheckResult { ImageEndOffset = 458752, TotalClusters = 160, AllocatedClusters = 2, FragmentedClusters = 1, CompressedClusters = 1 };
        const string Expected = """
            {
                "image-end-offset": 458752,
                "compressed-clusters": 1,
                "total-clusters": 160,
                "check-errors": 0,
                "allocated-clusters": 2,
                "filename": "comp.qcow2",
                "format": "qcow2",
                "fragmented-clusters": 1
            }
            """;
        Assert.Equal(Expected.Replace("\r\n", "\n", StringComparison.Ordinal), QemuJson.Format(CheckCommand.ToJson(result, "comp.qcow2", "qcow2")));
        Assert.Equal(
            "No errors were found on the image.\n2/160 = 1.25% allocated, 50.00% fragmented, 50.00% compressed clusters\nImage end offset: 458752\n",
            CheckCommand.ToHuman(result));
    }

    [Fact]
    public void CheckHuman_AfterRepair_ReportsRepairThenRecheck()
    {
        var result = new Qcow2CheckResult { LeaksFixed = 1, ImageEndOffset = 262144, TotalClusters = 160 };
        Assert.Equal(
            "The following inconsistencies were found and repaired:\n\n    1 leaked clusters\n    0 corruptions\n\nDouble checking the fixed image now...\nNo errors were found on the image.\nImage end offset: 262144\n",
            CheckCommand.ToHuman(result));
    }

    [Fact]
    public void MapEntry_Qcow2Kinds_TranslateToQemuFlags()
    {
        Assert.Equal(new MapEntry(0, 10, 0, true, false, true, 4096), MapEntry.From(new AllocationExtent(0, 10, AllocationKind.Data, 4096), DiskImageFormat.Qcow2));
        Assert.Equal(new MapEntry(0, 10, 0, true, false, true, -1), MapEntry.From(new AllocationExtent(0, 10, AllocationKind.Data), DiskImageFormat.Qcow2));
        Assert.Equal(new MapEntry(0, 10, 0, true, true, false, -1), MapEntry.From(new AllocationExtent(0, 10, AllocationKind.Zero), DiskImageFormat.Qcow2));
        Assert.Equal(new MapEntry(0, 10, 0, true, true, false, 8192), MapEntry.From(new AllocationExtent(0, 10, AllocationKind.Zero, 8192), DiskImageFormat.Qcow2));
        Assert.Equal(new MapEntry(0, 10, 1, false, true, false, -1), MapEntry.From(new AllocationExtent(0, 10, AllocationKind.Unallocated, -1, 1), DiskImageFormat.Qcow2));
        Assert.Equal(new MapEntry(5, 10, 0, true, true, false, 5), MapEntry.From(new AllocationExtent(5, 10, AllocationKind.Unallocated), DiskImageFormat.Raw));
    }

    [Fact]
    public void MapEntry_CanMerge_RequiresSameFlagsAndContiguousOffsets()
    {
        var a = new MapEntry(0, 10, 0, true, false, true, 100);
        Assert.True(a.CanMerge(new MapEntry(10, 5, 0, true, false, true, 110)));
        Assert.False(a.CanMerge(new MapEntry(10, 5, 0, true, false, true, 200)));
        Assert.False(a.CanMerge(new MapEntry(10, 5, 1, true, false, true, 110)));
        Assert.True(new MapEntry(0, 10, 0, false, true, false, -1).CanMerge(new MapEntry(10, 5, 0, false, true, false, -1)));
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(65536L, "0x10000")]
    [InlineData(458752L, "0x70000")]
    public void MapHex_LikePrintfAlternateHex(long value, string expected) => Assert.Equal(expected, MapCommand.Hex(value));
}
