using DiskImage.Formats;
using DiskImage.Formats.Qcow2;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Formats.Qcow2;

/// <summary>
/// <see cref="Qcow2Image.Check(BlockDevice, Qcow2RepairMode)"/> judged by qemu-img check (qemu-utils 7.2):
/// the same counters and exit codes on clean images made by qemu-img/qemu-io and on images damaged
/// by the <see cref="Surgeon"/>, and after our repair qemu-img check finds the image clean.
/// </summary>
public sealed class CheckTests(ITestOutputHelper output)
{
    private static Qcow2CheckResult Ours(string path, Qcow2RepairMode repair = Qcow2RepairMode.None)
    {
        using FileBlockDevice host = FileBlockDevice.Open(path, writable: repair != Qcow2RepairMode.None);
        return Qcow2Image.Check(host, repair);
    }

    private string Copy(TempDirectory dir, string path, string name)
    {
        string copy = dir.File(name);
        File.Copy(path, copy, overwrite: true);
        return copy;
    }

    private void Log(string what, Qcow2CheckResult r) => output.WriteLine($"{what}: {QemuCheck.Describe(r)}");

    [SkippableTheory]
    [MemberData(nameof(CheckImages.All), MemberType = typeof(CheckImages))]
    public void Check_ImageMadeByQemu_MatchesQemuImgCheck(string recipe)
    {
        Oracle.Require("qemu-img");
        output.WriteLine(Oracle.Version("qemu-img"));
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, recipe);
        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log(recipe, ours);
        Assert.Equal(0, qemu.ExitCode);
        qemu.AssertSameAs(ours);
        Assert.Empty(ours.Messages);
    }

    /// <summary>Appends <paramref name="count"/> clusters to the file whose refcount says used: pure leaks.</summary>
    private static void AddLeakedClusters(string path, int count)
    {
        Surgeon s = Surgeon.Open(path);
        long end = (s.Data.Length + s.ClusterSize - 1) / s.ClusterSize;
        s.SetLength((int)((end + count) * s.ClusterSize));
        for (int i = 0; i < count; i++)
        {
            s.SetRefcount(end + i, 1);
        }

        s.Save();
    }

    [SkippableTheory]
    [InlineData("data")]
    [InlineData("snapshots")]
    [InlineData("refcount1")]
    [InlineData("refcount64-snapshot")]
    [InlineData("cluster512")]
    [InlineData("v2")]
    public void Check_LeakedClusters_MatchesQemuAndRepairLeaksCleans(string recipe)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, recipe);
        AddLeakedClusters(path, 3);
        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(3, qemu.ExitCode);
        Assert.Equal(3, qemu.Leaks);
        qemu.AssertSameAs(ours);
        Assert.Contains(ours.Messages, m => m.StartsWith("Leaked cluster ", StringComparison.Ordinal) && m.EndsWith("refcount=1 reference=0", StringComparison.Ordinal));

        QemuCheck qemuRepair = QemuCheck.Run(Copy(dir, path, "qemu-repaired.qcow2"), Qcow2RepairMode.Leaks);
        Qcow2CheckResult repaired = Ours(path, Qcow2RepairMode.Leaks);
        Log("repaired", repaired);
        Assert.Equal(qemuRepair.LeaksFixed, repaired.LeaksFixed);
        Assert.Equal(qemuRepair.ExitCode, repaired.ExitCode);
        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        qemu = after;
        qemu.AssertSameAs(Ours(path));
    }

    [SkippableFact]
    public void Check_BumpedRefcountOfUsedCluster_MatchesQemuAndRepairAllCleans()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "data");
        Surgeon s = Surgeon.Open(path);
        long cluster = (long)(s.HostClusterOf(0) >> s.ClusterBits);
        s.SetRefcount(cluster, 2);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        qemu.AssertSameAs(ours);
        Assert.Equal(1, ours.Leaks);

        RepairAllAndAssertClean(dir, path);
    }

    [SkippableTheory]
    [InlineData("data", 0)]
    [InlineData("snapshots", 1)]
    [InlineData("refcount64-snapshot", 1)]
    [InlineData("v2-snapshot", 1)]
    public void Check_RefcountTooLow_MatchesQemuAndRepairAllCleans(string recipe, int newRefcount)
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, recipe);
        Surgeon s = Surgeon.Open(path);
        long cluster = (long)(s.HostClusterOf(recipe == "data" ? 0 : 64 * 1024) >> s.ClusterBits);
        Assert.NotEqual(0, cluster);
        if (newRefcount >= (long)s.Refcount(cluster))
        {
            newRefcount = (int)s.Refcount(cluster) - 1;
        }

        s.SetRefcount(cluster, (ulong)newRefcount);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(2, qemu.ExitCode);
        qemu.AssertSameAs(ours);

        RepairAllAndAssertClean(dir, path);
    }

    [SkippableFact]
    public void Check_CopiedFlagClearedOnDataCluster_MatchesQemuAndRepairAllCleans()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "data");
        Surgeon s = Surgeon.Open(path);
        s.SetL2Entry(0, 0, s.L2Entry(0, 0) & ~(1UL << 63));
        s.SetL1Entry(0, s.L1Entry(0) & ~(1UL << 63));
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(2, ours.Corruptions);
        qemu.AssertSameAs(ours);
        Assert.Contains(ours.Messages, m => m.StartsWith("ERROR OFLAG_COPIED data cluster: l2_entry=", StringComparison.Ordinal));
        Assert.Contains(ours.Messages, m => m.StartsWith("ERROR OFLAG_COPIED L2 cluster: l1_index=0", StringComparison.Ordinal));

        QemuCheck qemuLeaks = QemuCheck.Run(Copy(dir, path, "qemu-leaks.qcow2"), Qcow2RepairMode.Leaks);
        Qcow2CheckResult oursLeaks = Ours(Copy(dir, path, "ours-leaks.qcow2"), Qcow2RepairMode.Leaks);
        Log("repair leaks", oursLeaks);
        Assert.Equal(qemuLeaks.ExitCode, oursLeaks.ExitCode);
        Assert.Equal(qemuLeaks.CorruptionsFixed, oursLeaks.CorruptionsFixed);

        RepairAllAndAssertClean(dir, path);
    }

    [SkippableFact]
    public void Check_L2EntryPointingAtL1Table_ReportsOverlapLikeQemu()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "data");
        Surgeon s = Surgeon.Open(path);
        s.SetL2Entry(0, 0, s.L1TableOffset | (1UL << 63));
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(2, qemu.ExitCode);
        qemu.AssertSameAs(ours);
    }

    [SkippableFact]
    public void Check_RefcountBlockMisaligned_MatchesQemuAndRepairAllRebuilds()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "snapshots");
        Surgeon s = Surgeon.Open(path);
        s.SetRefTableEntry(0, s.RefTableEntry(0) + 512);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        qemu.AssertSameAs(ours, compareLayout: false);

        Qcow2CheckResult repaired = RepairAllAndAssertClean(dir, path);
        Assert.Contains("Rebuilding refcount structure", repaired.Messages);
    }

    [SkippableFact]
    public void Check_RefcountBlockZeroed_RepairAllRebuildsAndQemuAgrees()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "compressed");
        Surgeon s = Surgeon.Open(path);
        long block = (long)(s.RefTableEntry(0) & ~511UL);
        Array.Clear(s.Data, (int)block, s.ClusterSize);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(2, qemu.ExitCode);
        qemu.AssertSameAs(ours, compareLayout: false);

        QemuCheck qemuLeaksOnly = QemuCheck.Run(Copy(dir, path, "qemu-leaks.qcow2"), Qcow2RepairMode.Leaks);
        Qcow2CheckResult oursLeaksOnly = Ours(Copy(dir, path, "ours-leaks.qcow2"), Qcow2RepairMode.Leaks);
        Assert.Equal(qemuLeaksOnly.ExitCode, oursLeaksOnly.ExitCode);

        RepairAllAndAssertClean(dir, path);
    }

    [SkippableFact]
    public void Check_RefcountTableEntryOutsideImage_MatchesQemuAndRepairAllCleans()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "data");
        Surgeon s = Surgeon.Open(path);
        s.SetRefTableEntry(1, 1UL << 40);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(qemu.ExitCode, ours.ExitCode);
        Assert.Equal(qemu.Corruptions, ours.Corruptions);

        RepairAllAndAssertClean(dir, path);
    }

    [SkippableFact]
    public void Check_DirtyImageWithLeak_RepairClearsDirtyBit()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-refcounts");
        AddLeakedClusters(path, 1);
        Surgeon s = Surgeon.Open(path);
        s.SetFeatureBit(Surgeon.Field.IncompatibleFeatures, 0, true);
        s.Save();

        Qcow2CheckResult repaired = Ours(path, Qcow2RepairMode.Leaks);
        Log("repaired", repaired);
        Assert.Equal(1, repaired.LeaksFixed);
        Assert.Equal(0UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        ToolResult info = Oracle.RunOk("qemu-img", "info", "--output=json", path);
        Assert.Contains("\"dirty-flag\": false", info.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, QemuCheck.Run(path).ExitCode);
    }

    [SkippableFact]
    public void Check_DirtyImageAfterCrashWithLazyRefcounts_MatchesQemuAndRepairCleans()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-crash");
        Assert.Equal(1UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("before", ours);
        Assert.Equal(2, qemu.ExitCode);
        qemu.AssertSameAs(ours);

        using (FileBlockDevice host = FileBlockDevice.Open(path, writable: true))
        {
            Qcow2CheckResult repaired = Qcow2Image.RepairDirtyImage(host);
            Log("repair on open", repaired);
            Assert.Equal(0, repaired.ExitCode);
        }

        Assert.Equal(0UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        ToolResult info = Oracle.RunOk("qemu-img", "info", "--output=json", path);
        Assert.Contains("\"dirty-flag\": false", info.StandardOutput, StringComparison.Ordinal);
        Oracle.RunOk("qemu-io", "-c", "read -P 1 0 128k", "-c", "read -P 2 1M 64k", path);
    }

    [SkippableFact]
    public void Check_HeaderNotQcow2_ReportsCheckErrorWithoutThrowing()
    {
        using var dir = new TempDirectory();
        string path = dir.File("junk.img");
        File.WriteAllBytes(path, new byte[4096]);
        Qcow2CheckResult ours = Ours(path);
        Assert.Equal(1, ours.ExitCode);
        Assert.Equal(1, ours.CheckErrors);
    }

    [Fact]
    public void Check_RepairOnReadOnlyHost_Throws()
    {
        using var host = new MemoryBlockDevice(new byte[4096], writable: false);
        Assert.Throws<InvalidOperationException>(() => Qcow2Image.Check(host, Qcow2RepairMode.Leaks));
    }

    [SkippableFact]
    public void Check_OpenImageAfterOurWrites_CleanLikeQemu()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("ours.qcow2");
        using (Qcow2Image img = Qcow2Image.Create(path, 8L << 20, new Qcow2CreateOptions { ClusterSize = 4096 }))
        {
            img.Content.Write(12345, new byte[70000]);
            img.Content.Write(3L << 20, Enumerable.Repeat((byte)7, 9000).ToArray());
            Qcow2CheckResult live = img.Check();
            Log("live", live);
            Assert.Equal(0, live.ExitCode);
        }

        QemuCheck qemu = QemuCheck.Run(path);
        qemu.AssertSameAs(Ours(path));
    }

    [SkippableFact]
    public void Check_RepairThroughOpenImageThenKeepWriting_StaysClean()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "data");
        AddLeakedClusters(path, 2);
        using (Qcow2Image img = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            Qcow2CheckResult repaired = img.Check(Qcow2RepairMode.All);
            Log("repaired", repaired);
            Assert.Equal(2, repaired.LeaksFixed);
            Assert.Equal(0, repaired.ExitCode);
            byte[] data = Enumerable.Repeat((byte)9, 300 * 1024).ToArray();
            img.Content.Write(2L << 20, data);
            img.Content.Write(64 * 1024, data.AsSpan(0, 5000));
            Assert.Equal(0, img.Check().ExitCode);
        }

        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        Oracle.RunOk("qemu-io", "-c", "read -P 9 2M 300k", "-c", "read -P 1 0 64k", path);
    }

    [SkippableFact]
    public void Check_RepairThroughOpenImageMovesRefcountTableThenKeepWriting_StaysClean()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();

        // 512-byte clusters with 64-bit refcounts: one refcount-table cluster holds 64 blocks of 64
        // entries, covering 4096 clusters (2 MiB). qemu fills the file to just under that, so a
        // rebuild (new blocks after the end of the file) needs a larger table somewhere else.
        string path = dir.File("move.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64", path, "4M");
        Oracle.RunOk("qemu-io", "-c", "write -P 5 0 1960k", path);
        Surgeon s = Surgeon.Open(path);
        Assert.Equal(1u, s.RefcountTableClusters);
        Assert.InRange(s.Data.Length / 512, 4033, 4096);
        ulong oldTable = s.RefcountTableOffset;
        s.SetRefTableEntry(1, 1UL << 40);                                    // outside the image: forces a rebuild
        s.Save();

        byte[] expected = new byte[4 << 20];
        expected.AsSpan(0, 1960 * 1024).Fill(5);
        using (Qcow2Image img = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            Qcow2CheckResult repaired = img.Check(Qcow2RepairMode.All);
            Log("repaired", repaired);
            Assert.Equal(0, repaired.ExitCode);
            Assert.Contains("Rebuilding refcount structure", repaired.Messages);
            Assert.NotEqual(oldTable, Surgeon.Open(path).RefcountTableOffset);

            // Enough new data that the writer has to grow the relocated refcount table again.
            var random = new Random(20261127);
            byte[] data = new byte[2000 * 1024];
            random.NextBytes(data);
            img.Content.Write(2L << 20, data);
            data.CopyTo(expected, 2L << 20);
            img.Content.Write(100 * 1024, data.AsSpan(0, 7000));
            data.AsSpan(0, 7000).CopyTo(expected.AsSpan(100 * 1024));
            Assert.Equal(0, img.Check().ExitCode);
        }

        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        string raw = dir.File("expected.raw");
        File.WriteAllBytes(raw, expected);
        Oracle.RunOk("qemu-img", "compare", "-f", "qcow2", "-F", "raw", path, raw);
    }

    [Fact]
    public void Check_RepairOnReadOnlyImage_ThrowsInvalidOperation()
    {
        using var host = new MemoryBlockDevice(0);
        using (Qcow2Image.Create(host, 1 << 20, leaveOpen: true))
        {
        }

        using Qcow2Image img = Qcow2Image.Open(new MemoryBlockDevice(host.Data.ToArray(), writable: false));
        Assert.Equal(0, img.Check().ExitCode);
        Assert.Throws<InvalidOperationException>(() => img.Check(Qcow2RepairMode.Leaks));
    }

    [SkippableFact]
    public void Check_RepairDirtyImageOpenedForRepairThenKeepWriting_StaysClean()
    {
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-crash");
        using (FileBlockDevice host = FileBlockDevice.Open(path, writable: true))
        using (Qcow2Image img = Qcow2Image.OpenForRepair(host, new DiskImageOpenOptions { Writable = true }, leaveOpen: true, fileName: path))
        {
            Qcow2CheckResult repaired = img.Check(Qcow2RepairMode.All);
            Log("repaired", repaired);
            Assert.Equal(0, repaired.ExitCode);
            byte[] data = Enumerable.Repeat((byte)9, 300 * 1024).ToArray();
            img.Content.Write(2L << 20, data);
            img.Content.Write(64 * 1024, data.AsSpan(0, 5000));
            Qcow2CheckResult live = img.Check();
            Log("live", live);
            Assert.Equal(0, live.ExitCode);
        }

        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        ToolResult info = Oracle.RunOk("qemu-img", "info", "--output=json", path);
        Assert.Contains("\"dirty-flag\": false", info.StandardOutput, StringComparison.Ordinal);
        Oracle.RunOk("qemu-io", "-c", "read -P 9 2M 300k", "-c", "read -P 1 0 64k", "-c", "read -P 9 64k 5000", path);
    }

    [SkippableFact]
    public void Open_DirtyImageAfterCrashWritable_RepairsThenKeepsWritingClean()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-crash");
        Assert.Equal(1UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        Assert.Equal(2, QemuCheck.Run(path).ExitCode);

        byte[] expected = new byte[4 << 20];
        expected.AsSpan(0, 128 * 1024).Fill(1);
        expected.AsSpan(1 << 20, 64 * 1024).Fill(2);
        using (Qcow2Image img = Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }))
        {
            Assert.False(img.GetInfo().DirtyFlag);
            var random = new Random(4242);
            byte[] data = new byte[300 * 1024];
            random.NextBytes(data);
            img.Content.Write(2L << 20, data);
            data.CopyTo(expected, 2L << 20);
            img.Content.Write(100 * 1024, data.AsSpan(0, 50 * 1024));
            data.AsSpan(0, 50 * 1024).CopyTo(expected.AsSpan(100 * 1024));
            img.Content.WriteZeroes(1 << 20, 4096);
            expected.AsSpan(1 << 20, 4096).Clear();
            Assert.Equal(0, img.Check().ExitCode);
        }

        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, after.Output);
        ToolResult info = Oracle.RunOk("qemu-img", "info", "--output=json", path);
        Assert.Contains("\"dirty-flag\": false", info.StandardOutput, StringComparison.Ordinal);
        string raw = dir.File("expected.raw");
        File.WriteAllBytes(raw, expected);
        Oracle.RunOk("qemu-img", "compare", "-f", "qcow2", "-F", "raw", path, raw);
    }

    [SkippableFact]
    public void Open_DirtyImageWithUnrepairableDamageWritable_ThrowsInvalidDataReadOnlyWorks()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-refcounts");
        Surgeon s = Surgeon.Open(path);
        s.SetL2Entry(0, 0, s.L2Entry(0, 0) | 0x0100000000000000UL);          // reserved bits: not repairable
        s.SetFeatureBit(Surgeon.Field.IncompatibleFeatures, 0, true);
        s.Save();

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => Qcow2Image.Open(path, new DiskImageOpenOptions { Writable = true }));
        output.WriteLine(e.Message);
        Assert.Contains("dirty", e.Message, StringComparison.Ordinal);
        Assert.Equal(1UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        using Qcow2Image ro = Qcow2Image.Open(path);
        Assert.True(ro.GetInfo().DirtyFlag);
    }

    [SkippableFact]
    public void Check_LuksEncryptedImage_MatchesQemuImgCheck()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("luks.qcow2");
        // qemu-img times its key derivation and sometimes gives up on a busy machine ("Unable to get
        // accurate CPU usage"); retry a few times before calling the oracle unusable here.
        ToolResult created = Oracle.Run("qemu-img", "create", "-q", "--object", "secret,id=s0,data=abc", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0", path, "4M");
        for (int attempt = 1; created.ExitCode != 0 && attempt < 10; attempt++)
        {
            created = Oracle.Run("qemu-img", "create", "-q", "--object", "secret,id=s0,data=abc", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0", path, "4M");
        }

        Skip.If(created.ExitCode != 0 && created.StandardError.Contains("accurate CPU usage", StringComparison.Ordinal), "qemu-img cannot time LUKS key derivation on this machine: " + created.StandardError);
        Assert.True(created.ExitCode == 0, created.ToString());
        QemuCheck qemu = QemuCheck.RunArguments(["check", "--output=json", "--object", "secret,id=s0,data=abc", "--image-opts", $"driver=qcow2,file.filename={path},encrypt.key-secret=s0"]);
        Qcow2CheckResult ours = Ours(path);
        Log("luks", ours);
        Assert.Equal(0, qemu.ExitCode);
        qemu.AssertSameAs(ours);
    }

    [SkippableFact]
    public void Check_ExternalDataFileImage_MatchesQemuImgCheck()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("df.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=df.raw", path, "4M");
        Oracle.RunOk("qemu-io", "-c", "write -P 1 0 64k", "-c", "write -P 2 1M 128k", path);
        QemuCheck qemu = QemuCheck.Run(path);
        Qcow2CheckResult ours = Ours(path);
        Log("data file", ours);
        Assert.Equal(0, qemu.ExitCode);
        qemu.AssertSameAs(ours);
    }

    [SkippableFact]
    public void Check_LargeImageWith512ByteClusters_MatchesQemuQuickly()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = dir.File("big.qcow2");
        byte[] chunk = Enumerable.Repeat((byte)3, 1 << 20).ToArray();
        using (Qcow2Image img = Qcow2Image.Create(path, 256L << 20, new Qcow2CreateOptions { ClusterSize = 512 }))
        {
            for (long at = 0; at < (96L << 20); at += chunk.Length)
            {
                img.Content.Write(at, chunk);
            }
        }

        var qemuTime = System.Diagnostics.Stopwatch.StartNew();
        QemuCheck qemu = QemuCheck.Run(path);
        qemuTime.Stop();
        var ourTime = System.Diagnostics.Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Qcow2CheckResult ours = Ours(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        ourTime.Stop();
        output.WriteLine($"file {new FileInfo(path).Length:N0} bytes; qemu-img check {qemuTime.ElapsedMilliseconds} ms, ours {ourTime.ElapsedMilliseconds} ms, {allocated:N0} bytes allocated");
        qemu.AssertSameAs(ours);
        Assert.Equal(0, ours.ExitCode);
        Assert.True(ourTime.Elapsed < TimeSpan.FromSeconds(30), "check took too long");
        Assert.True(allocated < new FileInfo(path).Length / 8, "check allocated more than an eighth of the file size");
    }

    [SkippableFact]
    public void Check_RebuildWithUnfixableDamageLeft_ReportsItAndKeepsDirtyBit()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string path = CheckImages.Make(dir, "lazy-refcounts");
        Surgeon s = Surgeon.Open(path);
        s.SetRefTableEntry(0, s.RefTableEntry(0) + 512);                     // forces a rebuild
        s.SetL2Entry(0, 0, s.L2Entry(0, 0) | 0x0100000000000000UL);          // reserved bits: not repairable
        s.SetFeatureBit(Surgeon.Field.IncompatibleFeatures, 0, true);
        s.Save();

        QemuCheck qemu = QemuCheck.Run(Copy(dir, path, "qemu.qcow2"), Qcow2RepairMode.All);
        Qcow2CheckResult ours = Ours(path, Qcow2RepairMode.All);
        Log("repair all", ours);
        output.WriteLine("qemu -r all: " + qemu.Output);
        Assert.Equal(2, ours.ExitCode);
        Assert.Equal(1, ours.Corruptions);
        Assert.Equal(1UL, Surgeon.Open(path).U64(Surgeon.Field.IncompatibleFeatures) & 1);
        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 2 && after.Corruptions == 1, after.Output);
    }

    private Qcow2CheckResult RepairAllAndAssertClean(TempDirectory dir, string path)
    {
        QemuCheck qemuRepair = QemuCheck.Run(Copy(dir, path, "qemu-repair-all.qcow2"), Qcow2RepairMode.All);
        Qcow2CheckResult repaired = Ours(path, Qcow2RepairMode.All);
        Log("repair all", repaired);
        output.WriteLine("qemu -r all: " + qemuRepair.Output);
        Assert.Equal(0, repaired.ExitCode);
        QemuCheck after = QemuCheck.Run(path);
        Assert.True(after.ExitCode == 0, "qemu-img check after our repair:\n" + after.Output + "\nours: " + QemuCheck.Describe(repaired));
        after.AssertSameAs(Ours(path));
        ToolResult compare = Oracle.Run("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", path, dir.File("qemu-repair-all.qcow2"));
        if (qemuRepair.ExitCode == 0)
        {
            Assert.True(compare.ExitCode == 0, "content after our repair differs from content after qemu's repair\n" + compare);
        }

        return repaired;
    }
}
