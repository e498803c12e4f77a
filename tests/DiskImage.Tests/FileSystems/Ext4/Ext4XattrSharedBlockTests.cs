using System.Buffers.Binary;
using System.Globalization;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Xattr blocks shared by several inodes (<c>h_refcount</c> &gt; 1), as the kernel's block cache makes them:
/// neither mke2fs -d nor debugfs shares blocks, so the tests build one (three inodes on one block, the two
/// spare blocks freed with debugfs) and let e2fsck confirm it before and after every change.
/// </summary>
public sealed class Ext4XattrSharedBlockTests
{
    private static readonly byte[] SharedValue = [.. Enumerable.Range(0, 300).Select(i => (byte)(i * 7))];

    private static Ext4FileSystem OpenWritable(string image) =>
        Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true });

    /// <summary>
    /// Makes /a, /b and /c share one xattr block with reference count 3 (their own blocks freed); returns the image
    /// and the block.
    /// </summary>
    private static (string Image, long Block) SharedImage(TempDirectory temp, string options)
    {
        string image = Ext4XattrOracle.Mkfs(temp, "s", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        // One session per file: a session shares identical blocks it has seen, and here we want three blocks first.
        foreach (string p in new[] { "/a", "/b", "/c" })
        {
            using Ext4FileSystem fs = OpenWritable(image);
            fs.SetXattr(p, "user.shared", SharedValue);
            fs.SetXattr(p, "trusted.same", "same"u8.ToArray());
        }

        long a = Ext4XattrOracle.FileAcl(image, "/a");
        long b = Ext4XattrOracle.FileAcl(image, "/b");
        long c = Ext4XattrOracle.FileAcl(image, "/c");
        Assert.True(a != 0 && b != 0 && c != 0 && a != b && b != c, $"{a} {b} {c}");
        int bs = Ext4XattrOracle.BlockSize(image);
        uint seed;
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            seed = fs.XattrChecksumSeed;
        }

        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            byte[] block = new byte[bs];
            f.Position = a * bs;
            f.ReadExactly(block);
            BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), 3);
            if (options.Contains("^metadata_csum", StringComparison.Ordinal) is false)
            {
                Ext4XattrLayout.SetBlockChecksum(block, a, seed);
            }

            f.Position = a * bs;
            f.Write(block);
        }

        Ext4XattrOracle.Debugfs(image, true,
            $"sif /b file_acl {a.ToString(CultureInfo.InvariantCulture)}",
            $"sif /c file_acl {a.ToString(CultureInfo.InvariantCulture)}",
            $"freeb {b.ToString(CultureInfo.InvariantCulture)}",
            $"freeb {c.ToString(CultureInfo.InvariantCulture)}");

        // freeb leaves the free-block counters alone: let e2fsck fix exactly those, and nothing about the xattr block.
        ToolResult fix = Oracle.Run("e2fsck", ["-fy", image], TimeSpan.FromMinutes(1));
        Assert.True(fix.ExitCode is 0 or 1, fix.ToString());
        Assert.DoesNotContain("xtended attribute", fix.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("should be", fix.StandardOutput, StringComparison.Ordinal);
        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(3u, RefCount(image, a));
        return (image, a);
    }

    private static uint RefCount(string image, long block)
    {
        int bs = Ext4XattrOracle.BlockSize(image);
        using var f = new FileStream(image, FileMode.Open, FileAccess.Read);
        byte[] header = new byte[8];
        f.Position = (block * bs) + 4;
        f.ReadExactly(header.AsSpan(0, 4));
        return BinaryPrimitives.ReadUInt32LittleEndian(header);
    }

    private static bool BlockInUse(string image, long block) =>
        !Ext4XattrOracle.Debugfs(image, false, "testb " + block.ToString(CultureInfo.InvariantCulture)).StandardOutput.Contains("not in use", StringComparison.Ordinal);

    [SkippableTheory]
    [InlineData("-t ext4 -b 1024 -I 128")]
    [InlineData("-t ext4 -b 4096 -I 128 -O ^metadata_csum")]
    [InlineData("-t ext4 -b 1024")]
    public void SetXattr_SharedBlock_CopiesOnWriteAndDropsOneReference(string options)
    {
        using var temp = new TempDirectory();
        (string image, long shared) = SharedImage(temp, options);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/b", "user.shared", "changed"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        long b = Ext4XattrOracle.FileAcl(image, "/b");
        Assert.NotEqual(shared, b);
        Assert.Equal(shared, Ext4XattrOracle.FileAcl(image, "/a"));
        Assert.Equal(shared, Ext4XattrOracle.FileAcl(image, "/c"));
        Assert.Equal(2u, RefCount(image, shared));

        // With 256-byte inodes the short value moves into the inode and /b needs no block at all.
        if (options.Contains("-I 128", StringComparison.Ordinal))
        {
            Assert.Equal(1u, RefCount(image, b));
        }
        else
        {
            Assert.Equal(0, b);
        }

        Assert.Equal(SharedValue, Ext4XattrOracle.EaGet(image, "/a", "user.shared"));
        Assert.Equal(SharedValue, Ext4XattrOracle.EaGet(image, "/c", "user.shared"));
        Assert.Equal("same"u8.ToArray(), Ext4XattrOracle.EaGet(image, "/b", "trusted.same"));

        // Our reader sees the values too (a 128-byte-inode "changed" lives in the block, a 256-byte one in the inode).
        using Ext4FileSystem check = Ext4FileSystem.Open(FileBlockDevice.Open(image));
        Assert.Equal("changed"u8.ToArray(), check.GetXattrs("/b")["user.shared"]);
    }

    [SkippableFact]
    public void RemoveXattr_SharedBlockEmptiedForOneInode_DropsReferenceAndKeepsBlock()
    {
        using var temp = new TempDirectory();
        (string image, long shared) = SharedImage(temp, "-t ext4 -b 1024 -I 128");
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            Assert.True(fs.RemoveXattr("/c", "user.shared"));
            Assert.True(fs.RemoveXattr("/c", "trusted.same"));
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(0, Ext4XattrOracle.FileAcl(image, "/c"));
        Assert.Equal(2u, RefCount(image, shared));
        Assert.True(BlockInUse(image, shared));
        Assert.Empty(Ext4XattrOracle.EaNames(image, "/c"));
    }

    [SkippableFact]
    public void Delete_InodesSharingBlock_FreesBlockWithLastReference()
    {
        using var temp = new TempDirectory();
        (string image, long shared) = SharedImage(temp, "-t ext4 -b 1024 -I 128");
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.Delete("/a");
            fs.Delete("/b");
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(1u, RefCount(image, shared));
        Assert.True(BlockInUse(image, shared));
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.Delete("/c");
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.False(BlockInUse(image, shared));
    }

    [SkippableFact]
    public void SetXattr_InodeAreaOnlyChange_LeavesSharedBlockAlone()
    {
        using var temp = new TempDirectory();
        (string image, long shared) = SharedImage(temp, "-t ext4 -b 1024 -I 256");
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            // trusted.same may live in the inode with 256-byte inodes; a new small value goes to the inode.
            fs.SetXattr("/b", "user.new", "n"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(shared, Ext4XattrOracle.FileAcl(image, "/b"));
        Assert.Equal(3u, RefCount(image, shared));
        Assert.Equal("n"u8.ToArray(), Ext4XattrOracle.EaGet(image, "/b", "user.new"));
    }

    /// <summary>Identical attribute sets written in one session share one block, as the kernel's block cache does.</summary>
    [SkippableTheory]
    [InlineData("-t ext4 -b 1024 -I 128")]
    [InlineData("-t ext4 -b 4096 -I 128 -O ^metadata_csum")]
    public void SetXattr_IdenticalSetsInOneSession_ShareOneBlock(string options)
    {
        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "d", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        string[] paths = ["/a", "/b", "/c", "/d", "/d/e"];
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            foreach (string p in paths)
            {
                fs.SetXattr(p, "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
                fs.SetXattr(p, "user.shared", SharedValue);
            }

            // One of them changes afterwards: it leaves the shared block for a block of its own.
            fs.SetXattr("/c", "user.shared", "different"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        long block = Ext4XattrOracle.FileAcl(image, "/a");
        foreach (string p in paths)
        {
            Assert.Equal(p == "/c" ? 1u : 4u, RefCount(image, Ext4XattrOracle.FileAcl(image, p)));
            if (p != "/c")
            {
                Assert.Equal(block, Ext4XattrOracle.FileAcl(image, p));
                Assert.Equal(SharedValue, Ext4XattrOracle.EaGet(image, p, "user.shared"));
            }
        }

        Assert.Equal("different"u8.ToArray(), Ext4XattrOracle.EaGet(image, "/c", "user.shared"));

        // Removing everything from all of them frees the shared block with the last reference.
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            foreach (string p in paths)
            {
                fs.RemoveXattr(p, "user.shared");
                fs.RemoveXattr(p, "security.selinux");
            }
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.False(BlockInUse(image, block));
    }

    /// <summary>
    /// Seeded random sets, removals, deletions and re-creations over few distinct values, so that blocks are shared,
    /// copied on write and freed often; e2fsck and debugfs judge after every session.
    /// </summary>
    [SkippableTheory]
    [InlineData("-t ext4 -b 1024 -I 128", 11)]
    [InlineData("-t ext4 -b 1024 -I 256", 12)]
    [InlineData("-t ext4 -b 4096 -I 128 -O ^metadata_csum", 13)]
    public void SetXattr_RandomSharingSequence_MatchesModel(string options, int seed)
    {
        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "r", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        string[] paths = [.. Enumerable.Range(0, 8).Select(i => "/f" + i.ToString(CultureInfo.InvariantCulture))];
        // Few states (two names, two values each), so that identical sets are common.
        byte[][] values = [SharedValue, new byte[120]];
        string[] names = ["user.one", "security.selinux"];
        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal);
        var rng = new Random(seed);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            foreach (string p in paths)
            {
                using (fs.OpenFile(p, FileMode.CreateNew, FileAccess.Write))
                {
                }

                model[p] = new(StringComparer.Ordinal);
            }
        }

        bool sharedSeen = false;
        for (int session = 0; session < 4; session++)
        {
            using (Ext4FileSystem fs = OpenWritable(image))
            {
                for (int op = 0; op < 60; op++)
                {
                    string p = paths[rng.Next(paths.Length)];
                    string context = $"seed {seed}, session {session}, op {op}, {p}";
                    int kind = rng.Next(20);
                    if (kind == 0)
                    {
                        fs.Delete(p);
                        using (fs.OpenFile(p, FileMode.CreateNew, FileAccess.Write))
                        {
                        }

                        model[p].Clear();
                    }
                    else if (kind < 6)
                    {
                        string n = names[rng.Next(names.Length)];
                        Assert.True(fs.RemoveXattr(p, n) == model[p].Remove(n), context);
                    }
                    else
                    {
                        string n = names[rng.Next(names.Length)];
                        byte[] v = values[rng.Next(values.Length)];
                        fs.SetXattr(p, n, v);
                        model[p][n] = v;
                    }
                }
            }

            Ext4XattrOracle.AssertClean(image);
            var blocks = new HashSet<long>();
            foreach (string p in paths)
            {
                long acl = Ext4XattrOracle.FileAcl(image, p);
                sharedSeen |= acl != 0 && !blocks.Add(acl);
                Assert.Equal(model[p].Keys.Order(StringComparer.Ordinal), Ext4XattrOracle.EaNames(image, p));
                foreach ((string n, byte[] v) in model[p])
                {
                    Assert.True(v.AsSpan().SequenceEqual(Ext4XattrOracle.EaGet(image, p, n)), $"seed {seed}, session {session}: {p} {n}");
                }
            }
        }

        Assert.True(sharedSeen, $"seed {seed}: no block was ever shared");
    }
}
