using System.Globalization;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>Backing chains, the open policy, and internal snapshots (oracle: qemu-utils 7.2).</summary>
public sealed class Qcow2BackingSnapshotTests
{
    private static readonly DiskImageOpenOptions s_allow = new() { BackingFiles = BackingFilePolicy.Allow };

    /// <summary>raw (shorter) ← qcow2 v2 ← qcow2 v3: three layers, relative names.</summary>
    private static string BuildChain(TempDirectory dir, int seed)
    {
        byte[] raw = new byte[(3 << 20) + 4096];
        new Random(seed).NextBytes(raw);
        File.WriteAllBytes(dir.File("base.raw"), raw);
        Directory.CreateDirectory(dir.File("sub"));
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4096", "-b", "../base.raw", "-F", "raw", dir.File("sub/mid.qcow2"), "6M");
        QemuTool.Io(dir.File("sub/mid.qcow2"), QemuTool.RandomIoCommands(seed, 6 << 20, 4096, 30, compressed: true, zero: false));
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "-b", "sub/mid.qcow2", "-F", "qcow2", dir.File("top.qcow2"), "8M");
        QemuTool.Io(dir.File("top.qcow2"), QemuTool.RandomIoCommands(seed + 1, 8 << 20, 65536, 30, compressed: true, zero: true));
        return dir.File("top.qcow2");
    }

    [SkippableFact]
    public void Content_ThreeDeepChainMixingRawAndQcow2_EqualsQemuConvert()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string top = BuildChain(dir, 11);
        byte[] expected = QemuTool.ToRaw(top, dir);
        using Qcow2Image image = Qcow2Image.Open(top, s_allow);
        Assert.NotNull(image.Backing);
        byte[] actual = new byte[image.Content.Length];
        image.Content.ReadExactly(0, actual);
        Qcow2ReadInteropTests.AssertEqualBytes(expected, actual, "3-deep chain");
    }

    [SkippableFact]
    public void Open_ImageWithBackingFile_DeniedByDefaultWithHowToOptIn()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        QemuTool.Img("create", "-q", "-f", "qcow2", dir.File("base.qcow2"), "1M");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", dir.File("top.qcow2"));
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(dir.File("top.qcow2")));
        Assert.Contains("BackingFilePolicy.Allow", e.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => DiskImageFile.Open(dir.File("top.qcow2")));
    }

    [SkippableFact]
    public void Open_MetadataOnlyWithMissingBacking_InfoFromHeaderContentUnavailable()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("orphan.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", path, "3M");
        using (DiskImageFile image = DiskImageFile.Open(path, new DiskImageOpenOptions { MetadataOnly = true }))
        {
            ImageInfo info = image.GetInfo();
            Assert.Equal(3L << 20, info.VirtualSize);
            Assert.Equal("gone.qcow2", info.BackingFileName);
            Assert.Equal("qcow2", info.BackingFileFormat);
            Assert.Null(((Qcow2Image)image).Backing);
            Assert.Throws<InvalidOperationException>(() => image.Content);
        }

        Assert.Throws<ArgumentException>(() => Qcow2Image.Open(path, new DiskImageOpenOptions { MetadataOnly = true, Writable = true }));
        Assert.Throws<FileNotFoundException>(() => Qcow2Image.Open(path, s_allow));
    }

    [SkippableFact]
    public void Open_BackingLoop_ThrowsInvalidData()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        QemuTool.Img("create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", dir.File("a.qcow2"), "1M");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", dir.File("b.qcow2"), "1M");
        Assert.Throws<InvalidDataException>(() => Qcow2Image.Open(dir.File("a.qcow2"), s_allow));
        QemuTool.Img("create", "-q", "-f", "qcow2", "-u", "-b", "self.qcow2", "-F", "qcow2", dir.File("self.qcow2"), "1M");
        Assert.Throws<InvalidDataException>(() => Qcow2Image.Open(dir.File("self.qcow2"), s_allow));
    }

    [SkippableFact]
    public void Open_ChainDeeperThanLimit_ThrowsInvalidData()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        QemuTool.Img("create", "-q", "-f", "qcow2", dir.File("l0.qcow2"), "1M");
        for (int i = 1; i <= 3; i++)
        {
            QemuTool.Img("create", "-q", "-f", "qcow2", "-b", $"l{i - 1}.qcow2", "-F", "qcow2", dir.File($"l{i}.qcow2"));
        }

        using (Qcow2Image ok = Qcow2Image.Open(dir.File("l3.qcow2"), new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow, MaxBackingChainDepth = 3 }))
        {
            Assert.Equal(1 << 20, ok.Content.Length);
        }

        Assert.Throws<InvalidDataException>(() => Qcow2Image.Open(dir.File("l3.qcow2"), new DiskImageOpenOptions { BackingFiles = BackingFilePolicy.Allow, MaxBackingChainDepth = 2 }));
    }

    [SkippableFact]
    public void Open_ExternalDataFile_DeniedWithNotSupported()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.File("data.raw"), dir.File("t.qcow2"), "1M");
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(dir.File("t.qcow2")));
        Assert.Contains("AllowExternalDataFile", e.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData(",extended_l2=on")]
    public void Content_ExternalDataFileAllowed_EqualsQemuConvertReadOnly(string extra)
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.File("data.raw") + extra, path, "4M");
        QemuTool.Io(path, QemuTool.RandomIoCommands(41, 4 << 20, 65536, 40, compressed: false, zero: true));
        byte[] expected = QemuTool.ToRaw(path, dir);
        var options = new DiskImageOpenOptions { AllowExternalDataFile = true };
        using (Qcow2Image image = Qcow2Image.Open(path, options))
        {
            byte[] actual = new byte[image.Content.Length];
            image.Content.ReadExactly(0, actual);
            Qcow2ReadInteropTests.AssertEqualBytes(expected, actual, "external data file" + extra);
            Assert.Equal(dir.File("data.raw"), image.GetInfo().Qcow2!.DataFile);
        }

        Assert.Throws<NotSupportedException>(() => Qcow2Image.Open(path, new DiskImageOpenOptions { AllowExternalDataFile = true, Writable = true }));
    }

    [SkippableFact]
    public void OpenSnapshot_QemuSnapshots_EqualQemuConvertOfEachSnapshot()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=16384", path, "4M");
        QemuTool.Io(path, QemuTool.RandomIoCommands(21, 4 << 20, 16384, 30, compressed: true, zero: true));
        QemuTool.Img("snapshot", "-c", "one", path);
        QemuTool.Io(path, QemuTool.RandomIoCommands(22, 4 << 20, 16384, 30, compressed: false, zero: true));
        QemuTool.Img("resize", "-q", path, "6M");
        QemuTool.Img("snapshot", "-c", "two", path);
        QemuTool.Io(path, QemuTool.RandomIoCommands(23, 6 << 20, 16384, 30, compressed: false, zero: true));

        using Qcow2Image image = Qcow2Image.Open(path);
        Assert.Equal(["one", "two"], image.Snapshots.Select(s => s.Name));
        Assert.Equal(4 << 20, image.Snapshots[0].DiskSize);
        Assert.Equal(6 << 20, image.Snapshots[1].DiskSize);
        foreach (Qcow2Snapshot snapshot in image.Snapshots)
        {
            // qemu-img convert -l keeps the current virtual size; past the snapshot's own disk size it reads zeros.
            byte[] converted = QemuTool.ToRaw(path, dir, snapshot.Name);
            Assert.True(converted.AsSpan((int)snapshot.DiskSize).IndexOfAnyExcept((byte)0) < 0, "zeros past the snapshot's size");
            byte[] expected = converted.AsSpan(0, (int)snapshot.DiskSize).ToArray();
            using var view = image.OpenSnapshot(snapshot);
            Assert.False(view.CanWrite);
            Assert.Equal(snapshot.DiskSize, view.Length);
            byte[] actual = new byte[view.Length];
            view.ReadExactly(0, actual);
            Qcow2ReadInteropTests.AssertEqualBytes(expected, actual, "snapshot " + snapshot.Name);
        }

        byte[] active = QemuTool.ToRaw(path, dir);
        byte[] ours = new byte[image.Content.Length];
        image.Content.ReadExactly(0, ours);
        Qcow2ReadInteropTests.AssertEqualBytes(active, ours, "active");
    }

    [SkippableTheory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(34)]
    public void Write_ImageWithSnapshot_CopiesSharedClustersAndKeepsSnapshot(int seed)
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = dir.File("t.qcow2");
        int cs = seed % 2 == 0 ? 65536 : 4096;
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", $"cluster_size={cs}", path, "4M");
        QemuTool.Io(path, QemuTool.RandomIoCommands(seed, 4 << 20, cs, 40, compressed: true, zero: true));
        QemuTool.Img("snapshot", "-c", "base", path);
        byte[] snapshotContent = QemuTool.ToRaw(path, dir, "base");
        byte[] expected = QemuTool.ToRaw(path, dir);

        var rng = new Random(seed);
        using (Qcow2Image image = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            for (int i = 0; i < 30; i++)
            {
                long off = rng.NextInt64(expected.Length);
                int len = (int)Math.Min(expected.Length - off, rng.Next(1, 3 * cs));
                if (rng.Next(4) == 0)
                {
                    image.Content.WriteZeroes(off, len);
                    Array.Clear(expected, (int)off, len);
                }
                else
                {
                    byte[] data = new byte[len];
                    rng.NextBytes(data);
                    image.Content.Write(off, data);
                    data.CopyTo(expected, off);
                }
            }
        }

        string context = QemuTool.Describe(seed, cs);
        QemuTool.AssertClean(path, context);
        string raw = dir.File("expected.raw");
        File.WriteAllBytes(raw, expected);
        QemuTool.AssertSameAsRaw(path, raw, context);
        Qcow2ReadInteropTests.AssertEqualBytes(snapshotContent, QemuTool.ToRaw(path, dir, "base"), context + " snapshot kept");
    }

    [SkippableFact]
    public void Write_OverlayPartialClusters_CopiesFromBackingAndBackingStaysUntouched()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        QemuTool.Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", dir.File("base.qcow2"), "2M");
        QemuTool.Io(dir.File("base.qcow2"), ["write -c -P 6 1M 64k", "write -P 5 0 1M", "write -P 5 1088k 960k"]);
        byte[] before = File.ReadAllBytes(dir.File("base.qcow2"));
        using (Qcow2Image top = Qcow2Image.Create(dir.File("top.qcow2"), 3 << 20, new Qcow2CreateOptions { BackingFile = "base.qcow2", BackingFormat = DiskImageFormat.Qcow2 }))
        {
            top.Content.Write(100, new byte[] { 1, 2, 3 });
            top.Content.Write((1 << 20) + 70000, new byte[] { 7 });
            top.Content.WriteZeroes(200_000, 10);
        }

        Assert.Equal(before, File.ReadAllBytes(dir.File("base.qcow2")));
        QemuTool.AssertClean(dir.File("top.qcow2"), "overlay");
        byte[] expected = QemuTool.ToRaw(dir.File("base.qcow2"), dir);
        Array.Resize(ref expected, 3 << 20);
        expected[100] = 1;
        expected[101] = 2;
        expected[102] = 3;
        expected[(1 << 20) + 70000] = 7;
        Array.Clear(expected, 200_000, 10);
        File.WriteAllBytes(dir.File("expected.raw"), expected);
        QemuTool.AssertSameAsRaw(dir.File("top.qcow2"), dir.File("expected.raw"), "overlay");
        string info = QemuTool.Img("info", dir.File("top.qcow2")).StandardOutput;
        Assert.Contains("backing file format: qcow2", info, StringComparison.Ordinal);
        _ = CultureInfo.InvariantCulture;
    }
}
