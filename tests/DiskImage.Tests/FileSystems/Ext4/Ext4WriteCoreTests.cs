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

            fs.SetMode("/small", 0x1C0);
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
