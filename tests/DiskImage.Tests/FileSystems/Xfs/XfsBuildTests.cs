using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>
/// <see cref="XfsFileSystem.Build(BlockDevice, IFileSystem, XfsBuildOptions?, CancellationToken)"/> judged by xfsprogs 6.1
/// (Debian 12): <c>xfs_repair -n</c> must exit 0 and the tree read back (by our reader, and by the kernel where it can
/// mount) must equal the source: paths, types, modes, owners, sizes, ns times, targets, devices, xattrs, bytes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class XfsBuildTests
{
    internal static XfsBuildOptions Options(XfsFormatProfile profile = XfsFormatProfile.Debian12, int blockSize = 4096, int inodeSize = 512, int extraPercent = 0) => new()
    {
        Format = new XfsFormatOptions
        {
            Profile = profile,
            BlockSize = blockSize,
            InodeSize = inodeSize,
            Uuid = XfsFormatTests.FixedUuid,
            Timestamp = XfsFormatTests.FixedTime,
        },
        ExtraPercent = extraPercent,
    };

    internal static string BuildImage(IFileSystem source, string image, XfsBuildOptions options)
    {
        long size = XfsFileSystem.ComputeBuildSize(source, options);
        using (var device = FileBlockDevice.Create(image, size))
        {
            XfsFileSystem.Build(device, source, options);
        }

        return image;
    }

    internal static string BuildImage(string source, string image, XfsBuildOptions options)
    {
        using var src = new HostDirectoryFileSystem(source);
        return BuildImage(src, image, options);
    }

    /// <summary>Directories in every form: shortform, block, leaf and node (the generator's big directory).</summary>
    private static void AddDirectoryForms(string root)
    {
        foreach ((string name, int count) in new[] { ("dir-block", 30), ("dir-leaf", 200), ("dir-leaf-long", 120) })
        {
            string d = Path.Combine(root, name);
            Directory.CreateDirectory(d);
            for (int i = 0; i < count; i++)
            {
                string pad = name.EndsWith("long", StringComparison.Ordinal) ? new string('q', 200) : string.Empty;
                File.WriteAllBytes(Path.Combine(d, string.Create(CultureInfo.InvariantCulture, $"e{i:D4}{pad}")), []);
            }
        }

        // A remote attribute value and a leaf-form attribute set; a symlink of the longest length.
        string attrs = Path.Combine(root, "attr-leaf");
        File.WriteAllText(attrs, "a");
        for (int i = 0; i < 12; i++)
        {
            HostFiles.SetXattr(attrs, "user.attr" + i.ToString(CultureInfo.InvariantCulture), new byte[40 + (i / 2)]);
        }

        string remote = Path.Combine(root, "attr-remote");
        File.WriteAllText(remote, "r");
        HostFiles.SetXattr(remote, "user.remote", Enumerable.Range(0, 3600).Select(i => (byte)i).ToArray());
        File.CreateSymbolicLink(Path.Combine(root, "link-1023"), new string('z', 1023));
    }

    [SkippableTheory]
    [InlineData(XfsFormatProfile.Debian12, 4096, 512)]
    [InlineData(XfsFormatProfile.Rhel7, 4096, 512)]
    [InlineData(XfsFormatProfile.Rhel8, 1024, 512)]
    [InlineData(XfsFormatProfile.Rhel9, 2048, 1024)]
    [InlineData(XfsFormatProfile.Upstream, 4096, 512)]
    [InlineData(XfsFormatProfile.Upstream, 1024, 512)]
    public void Build_RandomHostTree_RepairCleanAndTreeIdentical(XfsFormatProfile profile, int blockSize, int inodeSize)
    {
        Oracle.Require("xfs_repair");
        int seed = 5100 + blockSize + inodeSize + (int)profile;
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, seed, new HostTreeShape { Post2038Times = false });
        AddDirectoryForms(src);
        string img = BuildImage(src, temp.File("fs.img"), Options(profile, blockSize, inodeSize));
        XfsFormatTests.AssertRepairClean(img);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img));
        Assert.True(Ext4TreeComparer.AssertMatches(src, fs, expectations, compareXattrs: false) > 2000, $"seed {seed}");
        XfsTreeAssert.XattrsMatchHost(src, fs);
        foreach ((string path, (UnixTime access, UnixTime modification)) in expectations.Times)
        {
            UnixFileInfo e = fs.GetEntry(path);
            Assert.True(e.ModificationTime == modification && e.AccessTime == access, $"{path}: times {e.AccessTime}/{e.ModificationTime}, expected {access}/{modification} (seed {seed})");
        }
    }

    /// <summary>
    /// A tree built at its smallest size (the data fills the first groups) leaves every group the blocks the kernel
    /// reserves at mount for its metadata btrees: by <c>xfs_db agresv</c>, free ≥ reserved − used in every AG. Without
    /// that the kernel logs "ENOSPC reserving per-AG metadata pool" and refuses allocations in the full group.
    /// </summary>
    [SkippableTheory]
    [InlineData(XfsFormatProfile.Rhel7, 4096)]
    [InlineData(XfsFormatProfile.Rhel8, 4096)]
    [InlineData(XfsFormatProfile.Debian12, 4096)]
    [InlineData(XfsFormatProfile.Debian12, 1024)]
    [InlineData(XfsFormatProfile.Upstream, 4096)]
    [InlineData(XfsFormatProfile.Upstream, 1024)]
    public void Build_SmallestSize_EveryAgKeepsTheKernelsMetadataReserve(XfsFormatProfile profile, int blockSize)
    {
        Oracle.Require("xfs_db");
        using var temp = new TempDirectory();
        string root = temp.File("tree");
        Directory.CreateDirectory(Path.Combine(root, "big"));
        for (int i = 0; i < 12_000; i++)
        {
            File.WriteAllBytes(Path.Combine(root, "big", "f" + i.ToString("D5", CultureInfo.InvariantCulture)), new byte[(i % 3) * 1500]);
        }

        string img = BuildImage(root, temp.File("fs.img"), Options(profile, blockSize));
        XfsFormatTests.AssertRepairClean(img);
        ToolResult r = Oracle.RunOk("xfs_db", "-r", "-c", "agresv", img);
        int groups = 0;
        foreach (string line in r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "AG 0: length: 5914 free: 48 reserved: 44 used: 2"
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(f.Length == 10 && f[0] == "AG", "unexpected agresv line: " + line);
            long free = long.Parse(f[5], CultureInfo.InvariantCulture);
            long reserved = long.Parse(f[7], CultureInfo.InvariantCulture);
            long used = long.Parse(f[9], CultureInfo.InvariantCulture);
            Assert.True(free >= reserved - used, $"{profile} {blockSize}: {line} (the kernel's per-AG reserve does not fit)");
            groups++;
        }

        Assert.True(groups >= 2, r.StandardOutput);
    }

    [SkippableFact]
    public void Build_InMemorySource_ConformanceTreeReadsBack()
    {
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        string img = BuildImage(mem, temp.File("fs.img"), Options(extraPercent: 10));
        XfsFormatTests.AssertRepairClean(img);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img));
        XfsTreeAssert.SameTree(mem, fs, "/");
    }

    [SkippableFact]
    public void Build_DebootstrapTree_RepairCleanAndTreeIdentical()
    {
        Oracle.Require("xfs_repair");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string img = BuildImage(tree, temp.File("debian.img"), Options(extraPercent: 5));
        XfsFormatTests.AssertRepairClean(img);
        using XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img));
        Assert.True(Ext4TreeComparer.AssertMatches(tree, fs, expectations: null, compareXattrs: false) > 5000);
        XfsTreeAssert.XattrsMatchHost(tree, fs);
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Build_DebootstrapTree_KernelMountDiffEqual()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Ext4KernelMount.Require();
        using var temp = new TempDirectory();
        string img = BuildImage(tree, temp.File("k.img"), Options(extraPercent: 5));
        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(img, temp.File("mnt"), "xfs", "ro,loop");
        ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", tree, m.MountPoint], TimeSpan.FromMinutes(5));
        Assert.True(diff.ExitCode == 0, diff.ToString());
    }

    [SkippableTheory]
    [Trait("Category", "KernelMount")]
    [InlineData(7001)]
    [InlineData(7002)]
    [InlineData(7003)]
    [InlineData(7004)]
    public void Build_RandomHostTree_KernelReadsTheSameTree(int seed)
    {
        Ext4KernelMount.Require();
        Oracle.Require("xfs_repair");
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, seed, new HostTreeShape { Post2038Times = false, BigDirectoryEntries = 300 + (seed % 7 * 500) });
        AddDirectoryForms(src);
        string img = BuildImage(src, temp.File("fs.img"), Options(seed % 5 == 4 ? XfsFormatProfile.Upstream : seed % 3 == 0 ? XfsFormatProfile.Rhel8 : XfsFormatProfile.Debian12, extraPercent: seed % 4 * 10));
        XfsFormatTests.AssertRepairClean(img);
        RandomTreeSnapshot ours;
        using (XfsFileSystem fs = XfsFileSystem.Open(FileBlockDevice.Open(img)))
        {
            Ext4TreeComparer.AssertMatches(src, fs, expectations, compareXattrs: false);
            XfsTreeAssert.XattrsMatchHost(src, fs);
            ours = RandomTreeSnapshot.FromFileSystem(fs);
        }

        using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(img, temp.File("mnt"), "xfs", "ro,loop");
        List<string> diffs = RandomTreeSnapshot.Compare(ours, Ext4KernelMount.Snapshot(m.MountPoint), new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, $"seed {seed}: the kernel and our reader disagree:\n" + string.Join('\n', diffs));
        ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", "-x", "fifo", "-x", "socket", src, m.MountPoint], TimeSpan.FromMinutes(5));
        Assert.True(diff.ExitCode == 0, $"seed {seed}: " + diff);
    }

    [Fact]
    public void Build_SameInputs_ByteIdenticalImages()
    {
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        BuildImage(mem, temp.File("a.img"), Options());
        BuildImage(mem, temp.File("b.img"), Options());
        Assert.Equal(File.ReadAllBytes(temp.File("a.img")), File.ReadAllBytes(temp.File("b.img")));
    }

    [Fact]
    public void Build_DeviceTooSmall_ThrowsIOException()
    {
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        using (Stream s = mem.OpenFile("/big", FileMode.CreateNew, FileAccess.Write))
        {
            s.SetLength(60L << 20);
            s.WriteByte(1);
        }

        long size = XfsFileSystem.ComputeBuildSize(mem, Options());
        using var device = FileBlockDevice.Create(temp.File("s.img"), size - (8L << 20));
        Assert.Throws<IOException>(() => XfsFileSystem.Build(device, mem, Options()));
    }

    [Fact]
    public void ComputeBuildSize_ExtraPercentAndBytes_AddSpace()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        long plain = XfsFileSystem.ComputeBuildSize(mem, Options());
        long more = XfsFileSystem.ComputeBuildSize(mem, new XfsBuildOptions { Format = Options().Format, ExtraPercent = 50, ExtraBytes = 1 << 20 });
        Assert.True(more >= plain + (plain / 2) && more % 4096 == 0, $"{plain} -> {more}");
    }

    [Fact]
    public void Build_AttributesNeedingNodeForm_ThrowNotSupported()
    {
        var mem = new InMemoryFileSystem();
        mem.OpenFile("/f", FileMode.CreateNew, FileAccess.Write).Dispose();
        for (int i = 0; i < 60; i++)
        {
            mem.SetXattr("/f", "user.n" + i.ToString(CultureInfo.InvariantCulture), new byte[100]);
        }

        NotSupportedException e = Assert.Throws<NotSupportedException>(() => XfsFileSystem.ComputeBuildSize(mem, Options()));
        Assert.Contains("/f", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, 0, 0 })]
    [InlineData(new byte[] { 2, 0, 0, 0, 1, 0 })]
    public void Build_InvalidPosixAcl_ThrowsArgument(byte[] acl)
    {
        var mem = new InMemoryFileSystem();
        mem.OpenFile("/f", FileMode.CreateNew, FileAccess.Write).Dispose();
        mem.SetXattr("/f", "system.posix_acl_access", acl);
        Assert.Throws<ArgumentException>(() => XfsFileSystem.ComputeBuildSize(mem, Options()));
    }

    [Fact]
    public void Build_ReadOnlyDevice_ThrowsNotSupported()
    {
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("ro.img"), new byte[4096]);
        using var device = FileBlockDevice.Open(temp.File("ro.img"));
        Assert.Throws<NotSupportedException>(() => XfsFileSystem.Build(device, new InMemoryFileSystem(), Options()));
    }
}
