using System.Buffers.Binary;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The write core of <see cref="Ext4FileSystem"/> (allocation, extent trees, truncation, inode and metadata
/// writes) on images made by mke2fs, judged by <c>e2fsck -fn</c> and <c>debugfs</c>.
/// </summary>
public sealed class Ext4WriteCoreTests : IDisposable
{
    private static readonly UnixTime FixedTime = new(1_700_000_000, 123_456_789);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>mke2fs profiles: Debian defaults and the variations the writer must handle.</summary>
    public static TheoryData<string, string[]> Profiles => new()
    {
        { "default", ["-t", "ext4"] },
        { "no-csum", ["-t", "ext4", "-O", "^metadata_csum"] },
        { "no-64bit", ["-t", "ext4", "-O", "^64bit"] },
        { "1k", ["-t", "ext4", "-b", "1024"] },
        { "inode128", ["-t", "ext4", "-I", "128"] },
        { "no-journal-no-flex", ["-t", "ext4", "-O", "^has_journal,^flex_bg"] },
    };

    [SkippableTheory]
    [MemberData(nameof(Profiles))]
    public void OpenFile_OverwriteAppendTruncate_E2fsckCleanAndDebugfsAgrees(string name, string[] options)
    {
        string image = MakeImage(name, 64 * 1024, options, ("small", 5000), ("empty", 0), ("big", 300_000));
        var expectedSmall = Pattern(1_000_000, 1);
        var expectedBig = Pattern(300_000, 0).AsSpan(0, 100_001).ToArray();
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            Assert.False(fs.IsReadOnly);
            using (Stream s = fs.OpenFile("/small", FileMode.Create, FileAccess.Write))
            {
                s.Write(expectedSmall);
            }

            using (Stream s = fs.OpenFile("/big", FileMode.Open, FileAccess.ReadWrite))
            {
                s.SetLength(100_001);
            }

            using (Stream s = fs.OpenFile("/empty", FileMode.Append, FileAccess.Write))
            {
                s.Write([1, 2, 3]);
            }

            fs.SetMode("/small", (UnixFileMode)0x1C0);
            fs.SetOwner("/small", 1000, 100);
            fs.SetTimes("/small", FixedTime, FixedTime);
        }

        AssertClean(image);
        Assert.Equal(expectedSmall, Dump(image, "/small"));
        Assert.Equal(expectedBig, Dump(image, "/big"));
        Assert.Equal(new byte[] { 1, 2, 3 }, Dump(image, "/empty"));
        string stat = Oracle.RunOk("debugfs", "-R", "stat /small", image).StandardOutput;
        Assert.Contains("Mode:  0700", stat, StringComparison.Ordinal);
        Assert.Contains("User:  1000   Group:   100", stat, StringComparison.Ordinal);

        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            UnixFileInfo e = fs.GetEntry("/small");
            // 128-byte inodes keep whole seconds only.
            Assert.Equal(name == "inode128" ? new UnixTime(FixedTime.Seconds, 0) : FixedTime, e.ModificationTime);
            Assert.Equal(expectedSmall, ReadAll(fs, "/small"));
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles))]
    public void OpenFile_EveryOtherBlock_GrowsDeepExtentTreeAndTruncatesBack(string name, string[] options)
    {
        string image = MakeImage(name, 96 * 1024, options, ("sparse", 0));
        int bs;
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            bs = fs.BlockSize;

            // More extents than four leaves hold: depth 2.
            int extents = (4 * ((bs - 12) / 12)) + 50;
            byte[] block = new byte[bs];
            using (Stream s = fs.OpenFile("/sparse", FileMode.Open, FileAccess.Write))
            {
                for (int i = 0; i < extents; i++)
                {
                    block.AsSpan().Fill((byte)(i | 1));
                    s.Position = 2L * i * bs;
                    s.Write(block);
                }
            }
        }

        AssertClean(image);
        string ex = Oracle.RunOk("debugfs", "-R", "ex /sparse", image).StandardOutput;
        Assert.Contains(" 2/ 2 ", ex, StringComparison.Ordinal);
        byte[] all = Dump(image, "/sparse");
        for (int i = 0; i < all.Length / bs; i++)
        {
            Assert.Equal(i % 2 == 0 ? (byte)((i / 2) | 1) : 0, all[i * bs]);
        }

        // Shrink to a few blocks: extent-tree blocks are freed, counters stay exact.
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/sparse", FileMode.Open, FileAccess.Write);
            s.SetLength((4L * bs) + 7);
            s.SetLength(6L * bs);
        }

        AssertClean(image);
        byte[] cut = Dump(image, "/sparse");
        Assert.Equal(6 * bs, cut.Length);
        Assert.Equal(1, cut[2 * bs]);
        Assert.Equal(3, cut[(4 * bs) + 6]);
        Assert.Equal(0, cut[(4 * bs) + 7]);
        Assert.Equal(0, cut[(5 * bs) - 1]);

        // Fill everything again, reusing the freed blocks, then delete all data.
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/sparse", FileMode.Open, FileAccess.Write);
            s.Position = 0;
            s.Write(Pattern(3 * 1024 * 1024, 9));
        }

        AssertClean(image);
        Assert.Equal(Pattern(3 * 1024 * 1024, 9), Dump(image, "/sparse"));
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/sparse", FileMode.Truncate, FileAccess.Write);
        }

        AssertClean(image);
        Assert.Empty(Dump(image, "/sparse"));
    }

    [SkippableTheory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void OpenFile_FragmentedOverwriteTruncateRegrowInOneSession_MatchesModelAndE2fsckClean(int seed)
    {
        // One open session: the extent-path cache must stay coherent across splits, truncation and regrowth.
        string image = MakeImage("frag" + seed, 64 * 1024, ["-t", "ext4", "-b", "1024"], ("f", 0), ("g", 0));
        var random = new Random(seed);
        const int Bs = 1024;
        const int Blocks = 3000;
        byte[] model = new byte[Blocks * Bs];
        long length = 0;
        byte[] block = new byte[Bs];
        using (Ext4FileSystem fs = OpenWritable(image))
        using (Stream f = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite))
        using (Stream g = fs.OpenFile("/g", FileMode.Open, FileAccess.Write))
        {
            for (int step = 0; step < 2500; step++)
            {
                int op = random.Next(100);
                if (op < 3)
                {
                    long newLength = random.NextInt64(length + 1);
                    f.SetLength(newLength);
                    model.AsSpan((int)newLength).Clear();
                    length = newLength;
                    continue;
                }

                // Even blocks, interleaved with /g's blocks, keep /f fragmented (depth >= 1).
                int index = random.Next(Blocks / 2) * 2;
                random.NextBytes(block);
                f.Position = (long)index * Bs;
                f.Write(block);
                g.Write(block.AsSpan(0, Bs));
                block.CopyTo(model, index * Bs);
                length = Math.Max(length, (long)(index + 1) * Bs);
                if (op < 20)
                {
                    int probe = random.Next(Blocks);
                    byte[] got = new byte[Bs];
                    f.Position = (long)probe * Bs;
                    int n = f.ReadAtLeast(got, Bs, throwOnEndOfStream: false);
                    int expected = (int)Math.Clamp(length - ((long)probe * Bs), 0, Bs);
                    Assert.True(n == expected, $"seed {seed} step {step}: read {n} bytes at block {probe}, expected {expected}");
                    Assert.True(model.AsSpan(probe * Bs, n).SequenceEqual(got.AsSpan(0, n)), $"seed {seed} step {step}: block {probe} differs");
                }
            }
        }

        AssertClean(image);
        string ex = Oracle.RunOk("debugfs", "-R", "ex /f", image).StandardOutput;
        Assert.DoesNotContain(" 0/ 0 ", ex, StringComparison.Ordinal);
        Assert.Equal(model.AsSpan(0, (int)length).ToArray(), Dump(image, "/f"));
    }

    [SkippableFact]
    public void OpenFile_FillsUninitGroups_CountersExact()
    {
        // 512 MiB with 4 KiB blocks: 4 groups, most BLOCK_UNINIT; a 300 MiB file spills into them.
        string image = MakeImage("uninit", 512 * 1024, ["-t", "ext4", "-b", "4096"], ("f", 0));
        byte[] chunk = Pattern(1 << 20, 3);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Write);
            for (int i = 0; i < 300; i++)
            {
                s.Write(chunk);
            }
        }

        AssertClean(image);
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            Assert.Equal(300L << 20, fs.GetEntry("/f").Size);
        }
    }

    [SkippableFact]
    public void Open_Writable_RefusesUncleanAndReadOnlyDevices()
    {
        string image = MakeImage("refuse", 8 * 1024, ["-t", "ext4", "-O", "^metadata_csum"], ("f", 10));
        byte[] bytes = File.ReadAllBytes(image);
        Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Open(new MemoryBlockDevice(bytes, writable: false), new Ext4OpenOptions { Writable = true }));

        // s_state without "cleanly unmounted".
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1024 + 0x3A), 0);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => Ext4FileSystem.Open(new MemoryBlockDevice(bytes, writable: true), new Ext4OpenOptions { Writable = true }));
        Assert.Contains("cleanly", e.Message, StringComparison.Ordinal);

        // Read-only opening still works and refuses changes.
        using Ext4FileSystem ro = Ext4FileSystem.Open(new MemoryBlockDevice(bytes, writable: false));
        Assert.True(ro.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => ro.SetMode("/f", 0));
    }

    /// <summary>Profiles including ext2/ext3 (block-mapped files) for namespace operations.</summary>
    public static TheoryData<string, string[]> NamespaceProfiles
    {
        get
        {
            TheoryData<string, string[]> data = Profiles;
            data.Add("ext3", ["-t", "ext3"]);
            data.Add("ext2", ["-t", "ext2"]);
            data.Add("format", []);
            data.Add("rhel7", ["-t", "ext4", "-O", "^metadata_csum,^64bit,uninit_bg"]);
            data.Add("inline-data", ["-t", "ext4", "-O", "inline_data"]);
            data.Add("csum-seed", ["-t", "ext4", "-O", "metadata_csum_seed"]);
            data.Add("orphan-file", ["-t", "ext4", "-O", "orphan_file"]);
            data.Add("sparse-super2", ["-t", "ext4", "-O", "sparse_super2"]);
            data.Add("meta-bg", ["-t", "ext4", "-O", "meta_bg,^resize_inode"]);
            data.Add("itable-zeroed", ["-t", "ext4", "-E", "lazy_itable_init=0"]);
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(NamespaceProfiles))]
    public void Namespace_CreateRenameDeleteMany_E2fsckCleanAndDebugfsAgrees(string name, string[] options)
    {
        string image = options.Length == 0 ? FormatImage(name, 48L << 20) : MakeImage(name, 48 * 1024, options);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.CreateDirectory("/d");
            fs.CreateDirectory("/d/sub", (UnixFileMode)0x1C0);
            for (int i = 0; i < 400; i++)
            {
                using Stream s = fs.OpenFile($"/d/file-{i:D4}", FileMode.CreateNew, FileAccess.Write);
                s.Write(Pattern(i * 37 % 60000, i));
            }

            for (int i = 0; i < 30; i++)
            {
                fs.CreateDirectory($"/d/sub/dir{i}");
            }

            fs.CreateSymbolicLink("/fast", "d/file-0001");
            fs.CreateSymbolicLink("/slow", "/" + new string('x', 200) + "/target");
            fs.CreateHardLink("/d/hard", "/d/file-0002");
            fs.CreateDevice("/null", UnixFileType.CharacterDevice, 1, 3);
            fs.CreateDevice("/big-dev", UnixFileType.BlockDevice, 259, 70000);
            fs.CreateFifo("/fifo");
            fs.CreateSocket("/sock");
            for (int i = 0; i < 400; i += 3)
            {
                fs.Delete($"/d/file-{i:D4}");
            }

            for (int i = 0; i < 30; i += 2)
            {
                fs.Delete($"/d/sub/dir{i}");
            }

            fs.Rename("/d/file-0001", "/renamed");
            fs.Rename("/d/file-0004", "/d/file-0005");
            fs.Rename("/d/sub/dir1", "/moved-dir");
            fs.Rename("/d/sub/dir3", "/d/sub/dir5");
            fs.Delete("/slow");
            fs.CreateSymbolicLink("/slow2", new string('y', 300));
            using (Stream s = fs.OpenFile("/renamed", FileMode.Append, FileAccess.Write))
            {
                s.Write(Pattern(5000, 77));
            }
        }

        AssertClean(image);
        string ls = Oracle.RunOk("debugfs", "-R", "ls -l /", image).StandardOutput;
        Assert.Contains("renamed", ls, StringComparison.Ordinal);
        Assert.Contains("moved-dir", ls, StringComparison.Ordinal);
        Assert.DoesNotContain(" slow ", ls, StringComparison.Ordinal);
        string dev = Oracle.RunOk("debugfs", "-R", "stat /big-dev", image).StandardOutput;
        Assert.Contains("Device major/minor number: 259:70000", dev, StringComparison.Ordinal);
        string fast = Oracle.RunOk("debugfs", "-R", "stat /fast", image).StandardOutput;
        Assert.Contains("Fast link dest: \"d/file-0001\"", fast, StringComparison.Ordinal);
        byte[] renamed = Dump(image, "/renamed");
        Assert.Equal(Pattern(37, 1).Concat(Pattern(5000, 77)), renamed);
        Assert.Equal(Pattern(4 * 37, 4), Dump(image, "/d/file-0005"));
        string hard = Oracle.RunOk("debugfs", "-R", "stat /d/hard", image).StandardOutput;
        Assert.Contains("Links: 2", hard, StringComparison.Ordinal);

        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            Assert.Equal(new string('y', 300), fs.GetEntry("/slow2").LinkTarget);
            Assert.Equal(2 + 13, fs.GetEntry("/d/sub").LinkCount);
            Assert.Equal(3, fs.GetEntry("/d").LinkCount);
            Assert.False(fs.Exists("/d/file-0003"));
            Assert.True(fs.Exists("/d/file-0398"));
        }
    }

    [SkippableTheory]
    [InlineData("ext2", "4096")]
    [InlineData("ext3", "1024")]
    public void BlockMap_GrowSparseTruncateDelete_E2fsckClean(string type, string blockSize)
    {
        string image = MakeImage(type, 96 * 1024, ["-t", type, "-b", blockSize], ("f", 3000));
        int bs = int.Parse(blockSize, System.Globalization.CultureInfo.InvariantCulture);

        // Direct, single, double indirect (and with 1 KiB blocks far into the double-indirect range).
        long[] offsets = [0, 10L * bs, 12L * bs, 300L * bs, 1500L * bs, 70_000L * bs];
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Write);
            foreach (long o in offsets)
            {
                s.Position = o;
                s.Write(Pattern(bs + 100, (int)(o / bs)));
            }
        }

        AssertClean(image);
        byte[] all = Dump(image, "/f");
        Assert.Equal(offsets[^1] + bs + 100, all.Length);
        foreach (long o in offsets)
        {
            Assert.Equal(Pattern(bs + 100, (int)(o / bs)), all.AsSpan((int)o, bs + 100).ToArray());
        }

        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Write);
            s.SetLength((300L * bs) + 10);
        }

        AssertClean(image);
        Assert.Equal((300L * bs) + 10, Dump(image, "/f").Length);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.Delete("/f");
        }

        AssertClean(image);
    }

    [SkippableFact]
    public void OpenFile_IntoUnwrittenExtentAndPast2GiB_E2fsckCleanLargeFileSet()
    {
        string image = MakeImage("unwritten", 64 * 1024, ["-t", "ext4", "-O", "^large_file"], ("f", 3));
        Oracle.RunOk("debugfs", "-w", "-R", "fallocate /f 0 40", image);
        AssertClean(image);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite);
            s.Position = (5L * fs.BlockSize) + 10;
            s.Write(Pattern(100, 5));
            s.Position = 3L << 30;
            s.Write([42]);
        }

        AssertClean(image);
        string features = Oracle.RunOk("dumpe2fs", "-h", image).StandardOutput;
        Assert.Contains("large_file", features, StringComparison.Ordinal);
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.Read);
            Assert.Equal((3L << 30) + 1, s.Length);
            byte[] head = new byte[8 * fs.BlockSize];
            s.ReadExactly(head);
            Assert.Equal(Pattern(3, 0), head[..3]);
            Assert.Equal(Pattern(100, 5), head.AsSpan((5 * fs.BlockSize) + 10, 100).ToArray());
            head.AsSpan(0, 3).Clear();
            head.AsSpan((5 * fs.BlockSize) + 10, 100).Clear();
            Assert.True(head.All(b => b == 0), "the rest of the unwritten extent reads as zeros");
            s.Position = 3L << 30;
            Assert.Equal(42, s.ReadByte());
        }
    }

    private string FormatImage(string name, long size)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string image = _temp.File(name + ".img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, size))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions { Timestamp = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000) });
        }

        AssertClean(image);
        return image;
    }

    [SkippableFact]
    public void OpenFile_WriteThroughCorruptExtent_ThrowsInvalidData()
    {
        string image = MakeImage("hostile", 8 * 1024, ["-t", "ext4", "-O", "^metadata_csum"], ("f", 5000));
        string imap = Oracle.RunOk("debugfs", "-R", "imap /f", image).StandardOutput;
        System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(imap, @"located at block (\d+), offset 0x([0-9a-f]+)");
        Assert.True(m.Success, imap);
        long offset = (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * 1024) +
            Convert.ToInt64(m.Groups[2].Value, 16);
        using (FileStream raw = File.Open(image, FileMode.Open, FileAccess.ReadWrite))
        {
            // i_block: extent header (12 bytes), then the first extent; its ee_start_lo (at +8) points far outside.
            raw.Position = offset + 0x28 + 12 + 8;
            raw.Write([0xF0, 0xFF, 0xFF, 0x7F]);
        }

        using Ext4FileSystem fs = OpenWritable(image);
        using Stream s = fs.OpenFile("/f", FileMode.Open, FileAccess.ReadWrite);
        Assert.Throws<InvalidDataException>(() => s.Write(new byte[100]));
        Assert.Throws<InvalidDataException>(() => s.SetLength(0));
    }

    private string MakeImage(string name, long sizeKiB, string[] options, params (string Name, int Size)[] files)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string src = _temp.File(name + "-src");
        Directory.CreateDirectory(src);
        for (int i = 0; i < files.Length; i++)
        {
            File.WriteAllBytes(Path.Combine(src, files[i].Name), Pattern(files[i].Size, 0));
        }

        string image = _temp.File(name + ".img");
        var args = new List<string> { "-q", "-F", "-E", "lazy_itable_init=1" };
        args.AddRange(options);
        args.AddRange(["-d", src, image, sizeKiB + "k"]);
        ToolResult r = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        AssertClean(image);
        return image;
    }

    private static Ext4FileSystem OpenWritable(string image) =>
        Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true, Clock = () => FixedTime });

    private static void AssertClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(r.ExitCode == 0, $"e2fsck -fn exited {r.ExitCode}\n{r.StandardOutput}\n{r.StandardError}");
    }

    private byte[] Dump(string image, string path)
    {
        string output = _temp.File("dump-" + Guid.NewGuid().ToString("N"));
        Oracle.RunOk("debugfs", "-R", $"dump {path} {output}", image);
        return File.ReadAllBytes(output);
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    internal static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        uint x = (uint)(seed * 2654435761) | 1;
        for (int i = 0; i < length; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            data[i] = (byte)x;
        }

        return data;
    }
}
