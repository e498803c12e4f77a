using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// <see cref="Ext4FileSystem.Build(BlockDevice, IFileSystem, Ext4BuildOptions?)"/> judged by e2fsprogs 1.47.0
/// (Debian 12): <c>e2fsck -fn</c> must exit 0, <c>debugfs</c> must see the source's times and content, and the
/// tree read back must equal the host source (paths, types, modes, owners, sizes, times, targets, xattrs, bytes).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4BuildTests
{
    private static readonly Guid FixedUuid = new("6c1f8a0e-3d55-4b9f-9a51-0f1e2d3c4b5a");
    private static readonly Guid FixedSeed = new("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");

    private static Ext4BuildOptions Options(Ext4FormatProfile profile, int? blockSize, int inodeSize = 256, int extraPercent = 0) => new()
    {
        Format = new Ext4FormatOptions
        {
            Profile = profile,
            BlockSize = blockSize,
            InodeSize = inodeSize,
            Uuid = FixedUuid,
            HashSeed = FixedSeed,
            Timestamp = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
        },
        ExtraPercent = extraPercent,
    };

    private static void AssertFsckClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static string BuildImage(string source, string image, Ext4BuildOptions options)
    {
        using var src = new HostDirectoryFileSystem(source);
        long size = Ext4FileSystem.ComputeBuildSize(src, options);
        using (var device = FileBlockDevice.Create(image, size))
        {
            Ext4FileSystem.Build(device, src, options);
        }

        return image;
    }

    [SkippableTheory]
    [InlineData("debian12-4k", Ext4FormatProfile.Debian12, 4096, 256)]
    [InlineData("debian12-1k", Ext4FormatProfile.Debian12, 1024, 256)]
    [InlineData("rhel7-4k", Ext4FormatProfile.Rhel7, 4096, 256)]
    [InlineData("rhel7-2k-128", Ext4FormatProfile.Rhel7, 2048, 128)]
    public void Build_RandomHostTree_E2fsckCleanAndTreeIdentical(string name, Ext4FormatProfile profile, int blockSize, int inodeSize)
    {
        Oracle.Require("e2fsck");
        int seed = 4100 + blockSize + inodeSize + (int)profile;
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);

        // Times before 2038 so that 128-byte inodes (no epoch bits) hold them too; the comparer checks whole seconds.
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, seed, new HostTreeShape { Post2038Times = false });
        try
        {
            string img = BuildImage(src, temp.File("fs.img"), Options(profile, blockSize, inodeSize));
            AssertFsckClean(img);
            using var device = FileBlockDevice.Open(img);
            using Ext4FileSystem fs = Ext4FileSystem.Open(device);
            Assert.True(Ext4TreeComparer.AssertMatches(src, fs, expectations) > 2000);
            if (inodeSize > 128)
            {
                // Nanoseconds survive with large inodes.
                foreach ((string path, (UnixTime access, UnixTime modification)) in expectations.Times)
                {
                    UnixFileInfo e = fs.GetEntry(path);
                    Assert.True(e.ModificationTime == modification, $"{path}: mtime {e.ModificationTime}, expected {modification}");
                    Assert.True(e.AccessTime == access, $"{path}: atime {e.AccessTime}, expected {access}");
                }
            }
        }
        catch (Exception ex) when (ex is not SkipException)
        {
            throw new Xunit.Sdk.XunitException($"{name}, seed {seed}: {ex}");
        }
    }

    [SkippableFact]
    public void Build_TimesAfter2038_DebugfsSeesEpochBitsAndNanoseconds()
    {
        Oracle.Require("debugfs");
        const int Seed = 4242;
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        HostTreeExpectations expectations = HostTreeGenerator.Generate(src, Seed, new HostTreeShape { BigDirectoryEntries = 50 });
        string img = BuildImage(src, temp.File("fs.img"), Options(Ext4FormatProfile.Debian12, 4096));
        AssertFsckClean(img);
        int checkedCount = 0;
        foreach ((string path, (UnixTime _, UnixTime modification)) in expectations.Times.Where(t => !t.Key.Contains("bigdir", StringComparison.Ordinal)).Take(40))
        {
            // debugfs prints "mtime: 0x<seconds lo>:<extra> -- date"; extra = epoch bits | ns << 2.
            string stat = Oracle.Run("debugfs", ["-R", $"stat \"{path}\"", img]).StandardOutput;
            int at = stat.IndexOf(" mtime: 0x", StringComparison.Ordinal);
            Assert.True(at >= 0, $"seed {Seed}, {path}: no mtime in\n{stat}");
            string[] parts = stat[(at + 10)..].Split(' ')[0].Split(':');
            uint lo = uint.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            uint extra = uint.Parse(parts[1].Replace("0x", string.Empty, StringComparison.Ordinal), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            long seconds = (int)lo + ((long)(extra & 3) << 32);
            Assert.True(new UnixTime(seconds, (int)(extra >> 2)) == modification, $"seed {Seed}, {path}: debugfs mtime {seconds}.{extra >> 2}, expected {modification}");
            checkedCount++;
        }

        Assert.True(checkedCount > 20);
    }

    [SkippableFact]
    public void Build_RandomHostTree_DebugfsRdumpMatchesSource()
    {
        Oracle.Require("debugfs");
        const int Seed = 4343;
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        HostTreeGenerator.Generate(src, Seed, new HostTreeShape { BigDirectoryEntries = 300 });
        string img = BuildImage(src, temp.File("fs.img"), Options(Ext4FormatProfile.Debian12, 1024));
        string outDir = temp.File("out");
        Directory.CreateDirectory(outDir);
        foreach (string sub in new[] { "/files", "/bigdir", "/links" })
        {
            ToolResult r = Oracle.Run("debugfs", ["-R", $"rdump {sub} {outDir}", img]);
            Assert.True(r.ExitCode == 0, r.ToString());
        }

        int files = 0;
        foreach (string host in Directory.EnumerateFiles(Path.Combine(src, "files")).Concat(Directory.EnumerateFiles(Path.Combine(src, "bigdir"))))
        {
            string rel = Path.GetRelativePath(src, host);
            string dumped = Path.Combine(outDir, rel);
            Assert.True(File.Exists(dumped), $"seed {Seed}: debugfs rdump lacks {rel}");
            Assert.True(File.ReadAllBytes(host).AsSpan().SequenceEqual(File.ReadAllBytes(dumped)), $"seed {Seed}: {rel} differs");
            files++;
        }

        Assert.Equal(new FileInfo(Path.Combine(src, "links", "fast")).LinkTarget, new FileInfo(Path.Combine(outDir, "links", "fast")).LinkTarget);
        Assert.Equal(new FileInfo(Path.Combine(src, "links", "slow")).LinkTarget, new FileInfo(Path.Combine(outDir, "links", "slow")).LinkTarget);
        Assert.True(files > 300);
    }

    [SkippableFact]
    public void Build_SparseHostFile_KeepsHolesAndContent()
    {
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        byte[] a = new byte[5000];
        byte[] b = new byte[3000];
        new Random(77).NextBytes(a);
        new Random(78).NextBytes(b);
        using (var s = new FileStream(Path.Combine(src, "sparse"), FileMode.CreateNew))
        {
            s.Write(a);
            s.Position = 40L << 20;
            s.Write(b);
            s.SetLength(64L << 20);
        }

        string img = BuildImage(src, temp.File("fs.img"), Options(Ext4FormatProfile.Debian12, 4096));
        AssertFsckClean(img);
        string stat = Oracle.Run("debugfs", ["-R", "stat /sparse", img]).StandardOutput;
        int at = stat.IndexOf("Blockcount: ", StringComparison.Ordinal);
        long sectors = long.Parse(stat[(at + 12)..].Split('\n')[0].Trim(), CultureInfo.InvariantCulture);
        Assert.True(sectors <= 4 * 8, "expected 4 data blocks (holes kept):\n" + stat);
        Assert.True(new FileInfo(img).Length < 16L << 20, "the computed size counted the holes");
        using var device = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        byte[] all = ConformanceTree.ReadAll(fs, "/sparse");
        Assert.Equal(64L << 20, all.LongLength);
        Assert.True(all.AsSpan(0, 5000).SequenceEqual(a) && all.AsSpan(40 << 20, 3000).SequenceEqual(b));
        Assert.Equal(-1, all.AsSpan(5000, (40 << 20) - 5000).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, all.AsSpan((40 << 20) + 3000).IndexOfAnyExcept((byte)0));
    }

    [SkippableTheory]
    [InlineData(4096)]
    [InlineData(1024)]
    public void Build_LargeHostFilesOverGarbage_KernelCopiedRunsReadBackAndTailsZero(int blockSize)
    {
        // Runs of 256 blocks and more go into the image file by copy_file_range, the partial last block through the
        // buffer; the device starts full of garbage so that a block the build skipped or half-wrote would show.
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        var rng = new Random(1402);
        var files = new Dictionary<string, byte[]>
        {
            ["/odd"] = new byte[(3 << 20) + 1234],
            ["/exact"] = new byte[2 << 20],
            ["/small"] = new byte[70_001],
        };
        foreach ((string name, byte[] data) in files)
        {
            rng.NextBytes(data);
            File.WriteAllBytes(src + name, data);
        }

        byte[] run = new byte[(1 << 20) + 17];
        rng.NextBytes(run);
        using (var s = new FileStream(Path.Combine(src, "sparse"), FileMode.CreateNew))
        {
            s.Position = 8L << 20;
            s.Write(run);
            s.SetLength(12L << 20);
        }

        Ext4BuildOptions options = Options(Ext4FormatProfile.Debian12, blockSize);
        string img = temp.File("fs.img");
        using (var hostSource = new HostDirectoryFileSystem(src))
        {
            long size = Ext4FileSystem.ComputeBuildSize(hostSource, options);
            using var device = FileBlockDevice.Create(img, size);
            byte[] garbage = new byte[1 << 20];
            garbage.AsSpan().Fill(0xA5);
            for (long off = 0; off < size; off += garbage.Length)
            {
                device.Write(off, garbage.AsSpan(0, (int)Math.Min(garbage.Length, size - off)));
            }

            Ext4FileSystem.Build(device, hostSource, options);
        }

        AssertFsckClean(img);
        using var readDevice = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(readDevice);
        foreach ((string name, byte[] data) in files)
        {
            Assert.True(ConformanceTree.ReadAll(fs, name).AsSpan().SequenceEqual(data), $"{name} differs (block size {blockSize})");
        }

        byte[] sparse = ConformanceTree.ReadAll(fs, "/sparse");
        Assert.Equal(12L << 20, sparse.LongLength);
        Assert.Equal(-1, sparse.AsSpan(0, 8 << 20).IndexOfAnyExcept((byte)0));
        Assert.True(sparse.AsSpan(8 << 20, run.Length).SequenceEqual(run));
        Assert.Equal(-1, sparse.AsSpan((8 << 20) + run.Length).IndexOfAnyExcept((byte)0));

        // The bytes after each file's end in its last block read as zeros in the image.
        using var stream = new FileStream(img, FileMode.Open, FileAccess.Read);
        foreach (string name in new[] { "/odd", "/small" })
        {
            long logical = (files[name].Length - 1) / blockSize;
            string bmap = Oracle.Run("debugfs", ["-R", $"bmap {name} {logical}", img]).StandardOutput.Trim();
            long lastBlock = long.Parse(bmap, CultureInfo.InvariantCulture);
            int used = files[name].Length % blockSize;
            byte[] block = new byte[blockSize];
            stream.Position = lastBlock * blockSize;
            stream.ReadExactly(block);
            Assert.True(block.AsSpan(0, used).SequenceEqual(files[name].AsSpan(files[name].Length - used)), $"{name}: last block");
            Assert.Equal(-1, block.AsSpan(used).IndexOfAnyExcept((byte)0));
        }
    }

    [SkippableFact]
    public void Build_SparseFileOver4GiB_SizeHighAndFarExtentsRead()
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string src = Path.Combine(temp.Path, "src");
        Directory.CreateDirectory(src);
        byte[] tail = new byte[10_000];
        new Random(91).NextBytes(tail);
        long at = (5L << 30) + 123;
        using (var s = new FileStream(Path.Combine(src, "huge"), FileMode.CreateNew))
        {
            s.Position = at;
            s.Write(tail);
            s.SetLength(6L << 30);
        }

        string img = BuildImage(src, temp.File("fs.img"), Options(Ext4FormatProfile.Rhel7, 4096));
        AssertFsckClean(img);
        using var device = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        Assert.Equal(6L << 30, fs.GetEntry("/huge").Size);
        using Stream r = fs.OpenFile("/huge", FileMode.Open, FileAccess.Read);
        r.Position = at - 5;
        byte[] got = new byte[tail.Length + 10];
        r.ReadExactly(got);
        Assert.Equal(new byte[5], got[..5]);
        Assert.True(got.AsSpan(5, tail.Length).SequenceEqual(tail));
        Assert.Equal(new byte[5], got[^5..]);
    }

    [SkippableFact]
    public void Build_InMemorySource_ConformanceTreeReadsBack()
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        Ext4BuildOptions options = Options(Ext4FormatProfile.Debian12, 1024, extraPercent: 10);
        long size = Ext4FileSystem.ComputeBuildSize(mem, options);
        Assert.Equal(0, size % 1024);
        string img = temp.File("fs.img");
        using (var device = FileBlockDevice.Create(img, size))
        {
            Ext4FileSystem.Build(device, mem, options);
        }

        AssertFsckClean(img);
        using var dev = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(dev);
        AssertSameTree(mem, fs, "/");
    }

    [SkippableTheory]
    [InlineData(Ext4FormatProfile.Debian12, null)]
    [InlineData(Ext4FormatProfile.Rhel7, 4096)]
    public void Build_DebootstrapTree_E2fsckCleanAndTreeIdentical(Ext4FormatProfile profile, int? blockSize)
    {
        Oracle.Require("e2fsck");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        string img = BuildImage(tree, temp.File("debian.img"), Options(profile, blockSize, extraPercent: 5));
        AssertFsckClean(img);
        using var device = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);
        Assert.True(Ext4TreeComparer.AssertMatches(tree, fs, expectations: null) > 5000);

        // debugfs agrees on a sample: /etc dumped byte for byte.
        string outDir = temp.File("out");
        Directory.CreateDirectory(outDir);
        ToolResult r = Oracle.Run("debugfs", ["-R", $"rdump /etc {outDir}", img]);
        Assert.True(r.ExitCode == 0, r.ToString());
        int compared = 0;
        foreach (string host in Directory.EnumerateFiles(Path.Combine(tree, "etc"), "*", SearchOption.AllDirectories))
        {
            if (new FileInfo(host).LinkTarget is not null)
            {
                continue;
            }

            string dumped = Path.Combine(outDir, Path.GetRelativePath(tree, host));
            Assert.True(File.ReadAllBytes(host).AsSpan().SequenceEqual(File.ReadAllBytes(dumped)), $"{host} differs in the debugfs dump");
            compared++;
        }

        Assert.True(compared > 50);
    }

    [SkippableFact]
    public void ComputeBuildSize_DebootstrapTree_FitsAndNearMke2fsMinimum()
    {
        Oracle.Require("mke2fs");
        string tree = Fixtures.RequireDebootstrapTree();
        using var temp = new TempDirectory();
        using var src = new HostDirectoryFileSystem(tree);
        Ext4BuildOptions options = Options(Ext4FormatProfile.Debian12, null);
        long size = Ext4FileSystem.ComputeBuildSize(src, options);
        string img = temp.File("ours.img");
        using (var device = FileBlockDevice.Create(img, size))
        {
            Ext4FileSystem.Build(device, src, options);
        }

        AssertFsckClean(img);

        // Too small by one block: the build reports it.
        using (var device = FileBlockDevice.Create(temp.File("small.img"), size - 4096))
        {
            Assert.Throws<IOException>(() => Ext4FileSystem.Build(device, src, options));
        }

        // mke2fs -d cannot fit the tree in 95 % of our size: ours is within about 5 % of its minimum.
        string m = temp.File("mke2fs.img");
        long kib = size * 95 / 100 / 1024;
        ToolResult r = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, m, kib.ToString(CultureInfo.InvariantCulture) + "k"], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode != 0, $"mke2fs -d fits the tree in {kib} KiB, ours asked for {size} bytes");
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Build_DebootstrapTree_KernelMountsReadOnly()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Skip.IfNot(HostFiles.IsRoot, "Mounting needs root.");
        Skip.If(Oracle.Find("losetup") is null || Oracle.Run("losetup", "-f").ExitCode != 0, "No free loop device.");
        using var temp = new TempDirectory();
        string img = BuildImage(tree, temp.File("k.img"), Options(Ext4FormatProfile.Debian12, null, extraPercent: 5));
        string mnt = temp.File("mnt");
        Directory.CreateDirectory(mnt);
        ToolResult mount = Oracle.Run("mount", "-o", "loop,ro,noload", "-t", "ext4", img, mnt);
        Skip.If(mount.ExitCode != 0, "The kernel refused the loop mount here: " + mount);
        try
        {
            ToolResult diff = Oracle.Run("diff", ["-r", "--no-dereference", tree, mnt], TimeSpan.FromMinutes(5));
            Assert.True(diff.ExitCode == 0 || diff.StandardOutput.Split('\n').All(l => l.Length == 0 || l.Contains("lost+found", StringComparison.Ordinal)), diff.ToString());
        }
        finally
        {
            Oracle.Run("umount", mnt);
        }
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Build_SourceHasLostAndFound_KeptAsInode11(bool asDirectory)
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        if (asDirectory)
        {
            mem.CreateDirectory("/lost+found", (UnixFileMode)0x1C0);
            ConformanceTree.Write(mem, "/lost+found/#1234", "orphan"u8.ToArray());
        }
        else
        {
            ConformanceTree.Write(mem, "/lost+found", "not a directory"u8.ToArray());
        }

        Ext4BuildOptions options = Options(Ext4FormatProfile.Rhel7, 1024);
        string img = temp.File("fs.img");
        using (var device = FileBlockDevice.Create(img, Ext4FileSystem.ComputeBuildSize(mem, options)))
        {
            Ext4FileSystem.Build(device, mem, options);
        }

        AssertFsckClean(img);
        using var dev = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(dev);
        Assert.Equal(11, fs.GetEntry("/lost+found").Inode);
        Assert.Single(fs.EnumerateDirectory("/"), e => e.Name == "lost+found");
        if (asDirectory)
        {
            Assert.Equal("orphan"u8.ToArray(), ConformanceTree.ReadAll(fs, "/lost+found/#1234"));
        }
        else
        {
            Assert.Equal("not a directory"u8.ToArray(), ConformanceTree.ReadAll(fs, "/lost+found"));
        }
    }

    [SkippableFact]
    public void Build_IdenticalBlockXattrs_ShareOneRefcountedBlock()
    {
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        var mem = new InMemoryFileSystem();
        byte[] big = new byte[600];
        new Random(5).NextBytes(big);
        for (int i = 0; i < 3; i++)
        {
            ConformanceTree.Write(mem, $"/f{i}", [(byte)i]);
            mem.SetXattr($"/f{i}", "security.big", big);
            mem.SetXattr($"/f{i}", "user.small", "s"u8);
        }

        ConformanceTree.Write(mem, "/other", [9]);
        mem.SetXattr("/other", "security.big", big.AsSpan(0, 500));
        Ext4BuildOptions options = Options(Ext4FormatProfile.Debian12, 1024);
        string img = temp.File("fs.img");
        using (var device = FileBlockDevice.Create(img, Ext4FileSystem.ComputeBuildSize(mem, options)))
        {
            Ext4FileSystem.Build(device, mem, options);
        }

        AssertFsckClean(img);
        var acl = new List<string>();
        foreach (string f in new[] { "/f0", "/f1", "/f2", "/other" })
        {
            string stat = Oracle.Run("debugfs", ["-R", $"stat {f}", img]).StandardOutput;
            int at = stat.IndexOf("File ACL: ", StringComparison.Ordinal);
            Assert.True(at >= 0, stat);
            acl.Add(stat[(at + 10)..].Split(' ', '\n')[0]);
            Assert.Contains("security.big (", stat, StringComparison.Ordinal);
        }

        Assert.True(acl[0] == acl[1] && acl[1] == acl[2] && acl[0] != "0", string.Join(",", acl));
        Assert.NotEqual(acl[0], acl[3]);
        using var dev = FileBlockDevice.Open(img);
        using Ext4FileSystem fs = Ext4FileSystem.Open(dev);
        Assert.Equal(big, fs.GetXattrs("/f2")["security.big"]);
        Assert.Equal("s"u8.ToArray(), fs.GetXattrs("/f1")["user.small"]);
    }

    [Fact]
    public void Build_DeviceTooSmall_ThrowsIOException()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        mem.CreateDirectory("/big");
        using (Stream s = mem.OpenFile("/big/blob", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(new byte[3 << 20]);
        }

        using var device = new MemoryBlockDevice(2 << 20);
        Assert.Throws<IOException>(() => Ext4FileSystem.Build(device, mem, Options(Ext4FormatProfile.Debian12, 1024)));
    }

    [Fact]
    public void Build_SameInputs_ByteIdenticalImages()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        Ext4BuildOptions options = Options(Ext4FormatProfile.Debian12, 1024);
        long size = Ext4FileSystem.ComputeBuildSize(mem, options);
        var a = new MemoryBlockDevice((int)size);
        var b = new MemoryBlockDevice((int)size);
        Ext4FileSystem.Build(a, mem, options);
        Ext4FileSystem.Build(b, mem, options);
        byte[] x = new byte[size];
        byte[] y = new byte[size];
        a.ReadExactly(0, x);
        b.ReadExactly(0, y);
        Assert.True(x.AsSpan().SequenceEqual(y));
    }

    [SkippableTheory]
    [InlineData(1024)]
    [InlineData(4096)]
    public void ComputeBuildSize_UpstreamTreeUsingEveryInode_FitsWithOrphanFile(int blockSize)
    {
        // Empty files and a large bytes-per-inode ratio: the inode count, not the blocks, sets the size. Growing the
        // tree a file at a time reaches sizes whose smallest image leaves no inode spare once the orphan file (the
        // Upstream profile's, next to the journal) has its inode; those images must build and pass e2fsck.
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        var options = new Ext4BuildOptions
        {
            Format = new Ext4FormatOptions
            {
                Profile = Ext4FormatProfile.Upstream,
                BlockSize = blockSize,
                BytesPerInode = 1 << 16,
                JournalBlocks = 1024,
                Uuid = FixedUuid,
                HashSeed = FixedSeed,
                Timestamp = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
            },
        };
        var mem = new InMemoryFileSystem();
        int full = 0;
        for (int n = 1; n <= 160 && full < 2; n++)
        {
            using (mem.OpenFile("/f" + n.ToString(CultureInfo.InvariantCulture), FileMode.CreateNew, FileAccess.Write))
            {
            }

            long size = Ext4FileSystem.ComputeBuildSize(mem, options);
            var device = new MemoryBlockDevice((int)size);
            Ext4FileSystem.Build(device, mem, options);
            byte[] sb = new byte[1024];
            device.ReadExactly(1024, sb);
            if (BitConverter.ToUInt32(sb, 0x10) != 0)
            {
                continue;
            }

            // Every inode is in use: the image must still be consistent.
            full++;
            string img = temp.File("full" + n.ToString(CultureInfo.InvariantCulture) + ".img");
            byte[] all = new byte[size];
            device.ReadExactly(0, all);
            File.WriteAllBytes(img, all);
            AssertFsckClean(img);
            using var dev = FileBlockDevice.Open(img);
            using Ext4FileSystem fs = Ext4FileSystem.Open(dev);
            Assert.Equal(n + 1, fs.EnumerateDirectory("/").Count());
        }

        Assert.True(full > 0, "No tree size used every inode; the test no longer covers the orphan file's inode.");
    }

    [Fact]
    public void ComputeBuildSize_ExtraPercentAndBytes_AddSpace()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        long min = Ext4FileSystem.ComputeBuildSize(mem, Options(Ext4FormatProfile.Debian12, 1024));
        long more = Ext4FileSystem.ComputeBuildSize(mem, Options(Ext4FormatProfile.Debian12, 1024, extraPercent: 50));
        long bytes = Ext4FileSystem.ComputeBuildSize(mem, new Ext4BuildOptions { Format = new Ext4FormatOptions { BlockSize = 1024 }, ExtraBytes = 1 << 20 });
        Assert.True(more >= min * 3 / 2, $"{more} < 1.5 × {min}");
        Assert.True(bytes >= min + (1 << 20), $"{bytes} < {min} + 1 MiB");
    }

    [Fact]
    public void Build_XattrsTooLargeForOneBlock_ThrowsNotSupported()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        mem.SetXattr("/hello.txt", "user.huge", new byte[3000]);
        using var device = new MemoryBlockDevice(8 << 20);
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Build(device, mem, Options(Ext4FormatProfile.Debian12, 1024)));
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 0, 0, 1, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF })] // owner only: no group/other entries
    [InlineData(new byte[] { 2, 0, 0, 0, 4, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF })] // out of order
    [InlineData(new byte[] { 2, 0, 0, 0, 1, 0, 0x16, 0, 0xFF, 0xFF, 0xFF, 0xFF, 4, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF })] // permission bits beyond rwx
    [InlineData(new byte[] { 2, 0, 0, 0, 1, 0, 6, 0, 5, 0, 0, 0, 4, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF })] // id on the owner entry
    [InlineData(new byte[] { 2, 0, 0, 0, 1, 0, 6, 0 })] // truncated
    public void Build_InvalidPosixAcl_ThrowsArgument(byte[] acl)
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        mem.SetXattr("/hello.txt", "system.posix_acl_access", acl);
        using var device = new MemoryBlockDevice(8 << 20);
        ArgumentException e = Assert.Throws<ArgumentException>(() => Ext4FileSystem.Build(device, mem, Options(Ext4FormatProfile.Debian12, 1024)));
        Assert.Contains("/hello.txt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_InlineDataXattrName_ThrowsNotSupported()
    {
        var mem = new InMemoryFileSystem();
        ConformanceTree.Populate(mem);
        mem.SetXattr("/hello.txt", "system.data", "x"u8);
        using var device = new MemoryBlockDevice(8 << 20);
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Build(device, mem, Options(Ext4FormatProfile.Debian12, 1024)));
    }

    [Fact]
    public void Build_SourceWithDirectoryCycle_ThrowsInvalidData()
    {
        using var device = new MemoryBlockDevice(8 << 20);
        Assert.Throws<InvalidDataException>(() => Ext4FileSystem.Build(device, new CyclicFileSystem(), Options(Ext4FormatProfile.Debian12, 1024)));
    }

    [Fact]
    public void Build_ReadOnlyDevice_ThrowsNotSupported()
    {
        using var device = new MemoryBlockDevice(new byte[8 << 20], writable: false);
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Build(device, new InMemoryFileSystem()));
    }

    private static void AssertSameTree(IFileSystem expected, IFileSystem actual, string dir)
    {
        var want = expected.EnumerateDirectory(dir).ToDictionary(e => e.Name, StringComparer.Ordinal);
        var got = actual.EnumerateDirectory(dir).Where(e => !(dir == "/" && e.Name == "lost+found")).ToDictionary(e => e.Name, StringComparer.Ordinal);
        Assert.Equal(want.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
        foreach ((string name, UnixFileInfo w) in want)
        {
            UnixFileInfo g = got[name];
            string ctx = w.Path + ": ";
            Assert.True(w.Type == g.Type, ctx + "type");
            Assert.True(w.Mode == g.Mode, ctx + "mode");
            Assert.True(w.UserId == g.UserId && w.GroupId == g.GroupId, ctx + "owner");
            Assert.True(w.ModificationTime == g.ModificationTime, ctx + $"mtime {g.ModificationTime} vs {w.ModificationTime}");
            Assert.True(w.AccessTime == g.AccessTime, ctx + "atime");
            Assert.True(w.LinkTarget == g.LinkTarget, ctx + "target");
            Assert.True(w.DeviceMajor == g.DeviceMajor && w.DeviceMinor == g.DeviceMinor, ctx + "rdev");
            if (w.Type != UnixFileType.Directory)
            {
                Assert.True(w.Size == g.Size, ctx + "size");
                Assert.True(w.LinkCount == g.LinkCount, ctx + "nlink");
            }

            IReadOnlyDictionary<string, byte[]> wx = expected.GetXattrs(w.Path);
            IReadOnlyDictionary<string, byte[]> gx = actual.GetXattrs(g.Path);
            Assert.Equal(wx.Keys.Order(StringComparer.Ordinal), gx.Keys.Order(StringComparer.Ordinal));
            foreach ((string k, byte[] v) in wx)
            {
                Assert.True(v.AsSpan().SequenceEqual(gx[k]), ctx + k);
            }

            if (w.Type == UnixFileType.RegularFile)
            {
                Assert.Equal(ConformanceTree.ReadAll(expected, w.Path), ConformanceTree.ReadAll(actual, g.Path));
            }
            else if (w.Type == UnixFileType.Directory)
            {
                AssertSameTree(expected, actual, w.Path);
            }
        }
    }

    /// <summary>A hostile source: every directory contains itself as "loop" (what a corrupt image with a directory cycle shows).</summary>
    private sealed class CyclicFileSystem() : ReadOnlyFileSystemView("The cyclic tree is read-only.")
    {
        private static readonly UnixTime T = new(1_700_000_000, 0);

        public override UnixFileInfo GetEntry(string path) => Dir(path);

        public override bool Exists(string path) => true;

        public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path) => [Dir(path == "/" ? "/loop" : path + "/loop")];

        protected override Stream OpenRead(string path) => throw new IOException();

        public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => new Dictionary<string, byte[]>();

        private static UnixFileInfo Dir(string path) => new()
        {
            Path = path, Type = UnixFileType.Directory, Mode = (UnixFileMode)0x1ED, UserId = 0, GroupId = 0, Size = 0, LinkCount = 2,
            Inode = 2, AccessTime = T, ModificationTime = T, ChangeTime = T,
        };
    }
}
