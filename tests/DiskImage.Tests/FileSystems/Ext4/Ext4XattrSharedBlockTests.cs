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
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            foreach (string p in new[] { "/a", "/b", "/c" })
            {
                fs.SetXattr(p, "user.shared", SharedValue);
                fs.SetXattr(p, "trusted.same", "same"u8.ToArray());
            }
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
}
