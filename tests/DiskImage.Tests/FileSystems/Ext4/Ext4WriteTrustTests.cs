using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The write path trusts no structure it has not verified (issue 9): a damaged bitmap, descriptor, inode,
/// extent block, directory block, htree node or xattr block refuses the write with
/// <see cref="InvalidDataException"/> naming the structure, and the image is left as it was. Images are
/// made by mke2fs and judged by e2fsck -fn (e2fsprogs 1.47), whose verdict must not change.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class Ext4WriteTrustTests(Ext4HostileFixture fixture) : IClassFixture<Ext4HostileFixture>
{
    [GeneratedRegex(@"Block bitmap at (\d+)")]
    private static partial Regex BlockBitmapAt();

    [GeneratedRegex(@"Inode bitmap at (\d+)")]
    private static partial Regex InodeBitmapAt();

    [GeneratedRegex(@"Inode table at (\d+)")]
    private static partial Regex InodeTableAt();

    /// <summary>The two defects of issue 9: a zeroed bitmap of a <c>mke2fs -b 1024 -d</c> image made copy-in overwrite the root inode and the journal, or replace /lost+found.</summary>
    [SkippableTheory]
    [InlineData("block", "-t ext4")]
    [InlineData("inode", "-t ext4")]
    [InlineData("block", "-t ext4 -O ^metadata_csum")]
    [InlineData("inode", "-t ext4 -O ^metadata_csum")]
    public void CopyIn_ZeroedBitmap_RefusedAndImageUnchanged(string bitmap, string options)
    {
        Oracle.Require("e2fsck");
        Oracle.Require("dumpe2fs");
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "dir"));
        File.WriteAllText(Path.Combine(src, "dir", "a"), "alpha");
        string img = temp.File("fs.img");
        Ext4TestImages.Build(src, img, 4096, ["-b", "1024", .. options.Split(' ')]);
        long at = FindInDumpe2fs(img, bitmap == "block" ? BlockBitmapAt() : InodeBitmapAt());
        using (var f = new FileStream(img, FileMode.Open, FileAccess.Write))
        {
            f.Position = at * 1024;
            f.Write(new byte[1024]);
        }

        string add = temp.File("new-file");
        File.WriteAllBytes(add, new byte[50_000]);
        byte[] before = SHA256.HashData(File.ReadAllBytes(img));
        ToolResult fsckBefore = Oracle.Run("e2fsck", "-fn", img);

        CliResult r = CliHarness.Run("copy-in", img, add, "/dir");
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Contains(bitmap + " bitmap", r.StandardError, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(img)));
        ToolResult fsckAfter = Oracle.Run("e2fsck", "-fn", img);
        Assert.Equal(fsckBefore.ExitCode, fsckAfter.ExitCode);
        Assert.Equal(fsckBefore.StandardOutput, fsckAfter.StandardOutput);

        // The API refuses at open for writing, before anything is written.
        byte[] bytes = File.ReadAllBytes(img);
        byte[] copy = (byte[])bytes.Clone();
        var ex = Assert.Throws<InvalidDataException>(() => Ext4FileSystem.Open(new MemoryBlockDevice(copy), new Ext4OpenOptions { Writable = true }).Dispose());
        Assert.Contains("ext4 " + bitmap + " bitmap", ex.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, copy);
    }

    /// <summary>Without metadata_csum a bitmap that frees only /lost+found's inode is caught by the inode slot itself.</summary>
    [SkippableFact]
    public void CreateFile_InodeBitmapFreesLiveInode_ThrowsAndImageUnchanged()
    {
        Oracle.Require("dumpe2fs");
        (byte[] image, string path) = fixture.Get("-t ext4 -O ^metadata_csum");
        long at = FindInDumpe2fs(path, InodeBitmapAt());
        byte[] img = (byte[])image.Clone();
        img[(at * 1024) + 1] &= unchecked((byte)~0x04); // inode 11 (bit 10): /lost+found
        byte[] expected = (byte[])img.Clone();
        using (Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(img), new Ext4OpenOptions { Writable = true }))
        {
            var ex = Assert.Throws<InvalidDataException>(() => fs.OpenFile("/new", FileMode.CreateNew, FileAccess.Write).Dispose());
            Assert.Contains("inode 11 is marked free but is in use", ex.Message, StringComparison.Ordinal);
        }

        AssertUnchangedButSuperblock(expected, img);
    }

    /// <summary>An extent that points into the inode table (no checksum to catch it) is never written through.</summary>
    [SkippableFact]
    public void WriteFile_ExtentPointsIntoInodeTable_ThrowsAndInodeTableUnchanged()
    {
        Oracle.Require("dumpe2fs");
        (byte[] image, string path) = fixture.Get("-t ext4 -O ^metadata_csum");
        long itable = FindInDumpe2fs(path, InodeTableAt());
        long ino = InodeOffset(path, "/large");
        byte[] img = (byte[])image.Clone();
        Span<byte> root = img.AsSpan((int)ino + 0x28, 60);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(root[6..])); // a depth-0 tree: the extents are in the inode
        BinaryPrimitives.WriteUInt32LittleEndian(root[(12 + 8)..], (uint)itable);
        BinaryPrimitives.WriteUInt16LittleEndian(root[(12 + 6)..], 0);
        byte[] expected = (byte[])img.Clone();
        using (Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(img), new Ext4OpenOptions { Writable = true }))
        {
            using Stream s = fs.OpenFile("/large", FileMode.Open, FileAccess.Write);
            var ex = Assert.Throws<InvalidDataException>(() => s.Write(new byte[4096]));
            Assert.Contains("inode table", ex.Message, StringComparison.Ordinal);
        }

        AssertUnchangedButSuperblock(expected, img);
    }

    /// <summary>One damaged checksum per structure kind: the write that needs it is refused, naming the structure.</summary>
    [SkippableTheory]
    [InlineData("group descriptor")]
    [InlineData("inode")]
    [InlineData("extent")]
    [InlineData("directory")]
    [InlineData("htree")]
    [InlineData("xattr")]
    public void Write_StructureWithBadChecksum_ThrowsNamingItAndImageUnchanged(string structure)
    {
        Oracle.Require("debugfs");
        (byte[] image, string path) = fixture.Get("-t ext4");
        byte[] img = (byte[])image.Clone();
        Action<Ext4FileSystem> write;
        string expectedName = "ext4 " + structure;
        switch (structure)
        {
            case "group descriptor":
                img[2048 + 0x0E] ^= 0x01; // bg_free_inodes_count of group 0 (descriptors in block 2)
                write = _ => { };
                break;
            case "inode":
                img[InodeOffset(path, "/d") + 0x08] ^= 0x01; // i_atime: harmless but for the checksum
                write = fs => fs.OpenFile("/d/new", FileMode.CreateNew, FileAccess.Write).Dispose();
                break;
            case "extent":
            {
                long ino = InodeOffset(path, "/frag");
                Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(img.AsSpan((int)ino + 0x28 + 6)));
                long leaf = BinaryPrimitives.ReadUInt32LittleEndian(img.AsSpan((int)ino + 0x28 + 12 + 4));
                int max = BinaryPrimitives.ReadUInt16LittleEndian(img.AsSpan((int)(leaf * 1024) + 4));
                img[(leaf * 1024) + 12 + (max * 12) - 1] ^= 0x01; // an unused slot, covered by the tail checksum
                write = fs =>
                {
                    using Stream s = fs.OpenFile("/frag", FileMode.Open, FileAccess.Write);
                    s.Seek(0, SeekOrigin.End);
                    s.Write(new byte[3000]);
                };
                expectedName = "ext4 extent";
                break;
            }

            case "directory":
                img[(FirstBlock(path, "/d") * 1024) + 1024 - 12 - 1] ^= 0x01; // slack of the last entry
                write = fs => fs.OpenFile("/d/new", FileMode.CreateNew, FileAccess.Write).Dispose();
                break;
            case "htree":
                img[(FirstBlock(path, "/big") * 1024) + 10] ^= 0x01; // padding after the "." name in the dx root
                write = fs => fs.OpenFile("/big/new", FileMode.CreateNew, FileAccess.Write).Dispose();
                break;
            default:
            {
                string stat = Oracle.Run("debugfs", ["-R", "stat /x", path]).StandardOutput;
                long acl = long.Parse(stat[(stat.IndexOf("File ACL: ", StringComparison.Ordinal) + 10)..].Split(' ', '\n')[0], CultureInfo.InvariantCulture);
                img[(acl * 1024) + 0x18] ^= 0x01; // h_reserved
                write = fs => fs.SetXattr("/x", "user.new", "value"u8);
                break;
            }
        }

        byte[] expected = (byte[])img.Clone();
        var ex = Assert.Throws<InvalidDataException>(() =>
        {
            using Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(img), new Ext4OpenOptions { Writable = true });
            write(fs);
        });
        Assert.Contains(expectedName, ex.Message, StringComparison.Ordinal);
        Assert.Contains("checksum", ex.Message, StringComparison.Ordinal);
        AssertUnchangedButSuperblock(expected, img);

        // Writing verifies even when the caller turned verification off for reading.
        byte[] again = (byte[])expected.Clone();
        Assert.Throws<InvalidDataException>(() =>
        {
            using Ext4FileSystem fs = Ext4FileSystem.Open(new MemoryBlockDevice(again), new Ext4OpenOptions { Writable = true, VerifyChecksums = false });
            write(fs);
        });
        AssertUnchangedButSuperblock(expected, again);
    }

    /// <summary>Verifying every group at a writable open stays cheap on a huge, mostly uninitialised file system (65,536 groups).</summary>
    [SkippableFact]
    public void OpenWritable_EightTebibytesMostlyUninitialised_QuickAndWritable()
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string img = temp.File("huge.img");
        using (FileBlockDevice device = FileBlockDevice.Create(img, 8L << 40))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions());
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (FileBlockDevice device = FileBlockDevice.Open(img, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }, leaveOpen: true))
        {
            using Stream s = fs.OpenFile("/f", FileMode.CreateNew, FileAccess.Write);
            s.Write(new byte[100_000]);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"open + write took {clock.Elapsed}");
        ToolResult fsck = Oracle.Run("e2fsck", ["-fn", img], TimeSpan.FromMinutes(3));
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
    }

    /// <summary>
    /// Everything but the primary superblock is byte-identical (a writer may mark the superblock while it
    /// works; no structure it failed to verify may be touched).
    /// </summary>
    private static void AssertUnchangedButSuperblock(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.AsSpan(0, 1024).SequenceEqual(actual.AsSpan(0, 1024)), "boot block changed");
        int at = expected.AsSpan(2048).CommonPrefixLength(actual.AsSpan(2048));
        Assert.True(at == expected.Length - 2048, $"the image changed at byte {at + 2048}");
    }

    private static long FindInDumpe2fs(string image, Regex pattern)
    {
        string dump = Oracle.Run("dumpe2fs", image).StandardOutput;
        Match m = pattern.Match(dump);
        Assert.True(m.Success, dump);
        return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static long InodeOffset(string image, string path)
    {
        string s = Oracle.Run("debugfs", ["-R", "imap " + path, image]).StandardOutput;
        int at = s.IndexOf("located at block ", StringComparison.Ordinal);
        Assert.True(at >= 0, s);
        string[] parts = s[(at + 17)..].Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024) + Convert.ToInt64(parts[2], 16);
    }

    private static long FirstBlock(string image, string path) =>
        long.Parse(Oracle.Run("debugfs", ["-R", "bmap " + path + " 0", image]).StandardOutput.Trim(), CultureInfo.InvariantCulture);
}
