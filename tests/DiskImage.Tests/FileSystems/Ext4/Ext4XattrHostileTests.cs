using System.Buffers.Binary;
using System.Globalization;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>An image (built once) whose /a has in-inode xattrs (a user value and a POSIX ACL) and /b an xattr block.</summary>
public sealed class Ext4XattrHostileFixture : IDisposable
{
    private readonly TempDirectory _temp = new();
    private (byte[] Image, string Path)? _image;

    public (byte[] Image, string Path) Get()
    {
        lock (_temp)
        {
            if (_image is { } hit)
            {
                return hit;
            }

            Oracle.Require("debugfs");
            string path = Ext4XattrOracle.Mkfs(_temp, "hostile", 4096, "-t", "ext4", "-b", "1024", "-I", "256");
            File.WriteAllBytes(_temp.File("acl"), Ext4XattrAclTests.MinimalAcl());
            File.WriteAllBytes(_temp.File("big"), new byte[300]);
            Ext4XattrOracle.Debugfs(path, true,
                "ea_set /a user.s small",
                $"ea_set -f {_temp.File("acl")} /a system.posix_acl_access",
                $"ea_set -f {_temp.File("big")} /b user.big");
            Ext4XattrOracle.AssertClean(path);
            _image = (File.ReadAllBytes(path), path);
            return _image.Value;
        }
    }

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// Hostile xattr areas (issue acceptance 5): offsets, sizes and name lengths out of bounds, unterminated
/// lists, bad block headers, block numbers outside the file system, corrupt ACLs → <see cref="InvalidDataException"/>;
/// values in separate inodes (ea_inode) → <see cref="NotSupportedException"/>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4XattrHostileTests(Ext4XattrHostileFixture fixture) : IClassFixture<Ext4XattrHostileFixture>
{
    private static readonly Ext4OpenOptions NoChecksums = new() { VerifyChecksums = false };

    [SkippableFact]
    public void GetXattrs_UncorruptedImage_ReadsEveryValue()
    {
        (byte[] image, _) = fixture.Get();
        using Ext4FileSystem fs = Ext4TestImages.Open(image);
        IReadOnlyDictionary<string, byte[]> a = fs.GetXattrs("/a");
        Assert.Equal("small"u8.ToArray(), a["user.s"]);
        Assert.Equal(Ext4XattrAclTests.MinimalAcl(), a["system.posix_acl_access"]);
        Assert.Equal(new byte[300], fs.GetXattrs("/b")["user.big"]);
    }

    /// <summary>Pokes a field of the first in-inode entry of /a (offsets relative to the entry).</summary>
    [SkippableTheory]
    [InlineData(0, 1, 200L, "name length beyond the inode")]
    [InlineData(2, 2, 0xFFF0L, "value offset beyond the inode")]
    [InlineData(2, 2, 0L, "value offset inside the entry table")]
    [InlineData(8, 4, 0x7FFFFFFFL, "huge value size")]
    [InlineData(8, 4, 200L, "value size beyond the inode")]
    public void GetXattrs_InodeEntryOutOfBounds_ThrowsInvalidData(int offset, int width, long value, string what)
    {
        byte[] img = Corrupt(InodeXattrAreaOffset("/a") + 4 + offset, width, value);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        var ex = Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/a"));
        Assert.False(string.IsNullOrEmpty(ex.Message), what);
    }

    [SkippableFact]
    public void GetXattrs_InodeListNotTerminated_ThrowsInvalidData()
    {
        (byte[] image, string path) = fixture.Get();
        byte[] img = (byte[])image.Clone();
        long area = InodeXattrAreaOffset("/a");
        int inodeEnd = checked((int)(InodeOffset(path, "/a") + 256));

        // Entries of name length 0 (16 bytes each, non-zero second word) to the end of the inode.
        for (long off = area + 4; off + 16 <= inodeEnd; off += 16)
        {
            img.AsSpan((int)off, 16).Clear();
            img[off + 1] = 1;
        }

        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/a"));
    }

    [SkippableFact]
    public void GetXattrs_ValueInSeparateInode_ThrowsNotSupported()
    {
        byte[] img = Corrupt(InodeXattrAreaOffset("/a") + 4 + 4, 4, 11);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<NotSupportedException>(() => fs.GetXattrs("/a"));
    }

    [SkippableFact]
    public void GetXattrs_CorruptOnDiskAcl_ThrowsInvalidData()
    {
        (byte[] image, string path) = fixture.Get();
        byte[] img = (byte[])image.Clone();
        long area = InodeXattrAreaOffset("/a");

        // Find the ACL entry (index 2) and break the version word of its value.
        long entry = area + 4;
        while (img[entry + 1] != 2)
        {
            entry += Ext4XattrLayout.EntrySize(img[entry]);
            Assert.True(entry < InodeOffset(path, "/a") + 256);
        }

        int valueOffs = BinaryPrimitives.ReadUInt16LittleEndian(img.AsSpan((int)entry + 2));
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan((int)(area + 4 + valueOffs)), 7);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/a"));
    }

    [SkippableTheory]
    [InlineData(0x68, 4, 0x7FFFFFF0L, "block number beyond the file system")]
    [InlineData(0x68, 4, 0L, "block 0 with the high half set")]
    public void GetXattrs_BlockNumberOutOfRange_ThrowsInvalidData(int offset, int width, long value, string what)
    {
        (byte[] image, string path) = fixture.Get();
        byte[] img = (byte[])image.Clone();
        long inode = InodeOffset(path, "/b");
        Poke(img, inode + offset, width, value);
        Poke(img, inode + 0x76, 2, 0x10);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        var ex = Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/b"));
        Assert.False(string.IsNullOrEmpty(ex.Message), what);
    }

    [SkippableTheory]
    [InlineData(0, 4, 0xEA010000L, "magic")]
    [InlineData(8, 4, 2L, "h_blocks")]
    [InlineData(0x20, 1, 250L, "first name length")]
    public void GetXattrs_BadBlockHeader_ThrowsInvalidData(int offset, int width, long value, string what)
    {
        (byte[] image, string path) = fixture.Get();
        long block = Ext4XattrOracle.FileAcl(path, "/b");
        Assert.NotEqual(0, block);
        byte[] img = Corrupt((block * 1024) + offset, width, value);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        var ex = Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/b"));
        Assert.False(string.IsNullOrEmpty(ex.Message), what);
    }

    [SkippableFact]
    public void GetXattrs_BlockChecksumMismatch_ThrowsInvalidDataUnlessUnchecked()
    {
        (byte[] image, string path) = fixture.Get();
        long block = Ext4XattrOracle.FileAcl(path, "/b");
        byte[] img = Corrupt((block * 1024) + 1023, 1, 0x5A);
        using (Ext4FileSystem fs = Ext4TestImages.Open(img))
        {
            Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/b"));
        }

        using Ext4FileSystem unchecked_ = Ext4TestImages.Open(img, NoChecksums);
        Assert.Single(unchecked_.GetXattrs("/b"));
    }

    /// <summary>Seeded random bytes over the in-inode area and the block never give anything but InvalidData or NotSupported.</summary>
    [SkippableFact]
    public void GetXattrs_RandomBytesInAreas_NeverCrashes()
    {
        const int Seed = 4242;
        (byte[] image, string path) = fixture.Get();
        long area = InodeXattrAreaOffset("/a");
        long areaEnd = InodeOffset(path, "/a") + 256;
        long block = Ext4XattrOracle.FileAcl(path, "/b") * 1024;
        var rng = new Random(Seed);
        for (int round = 0; round < 300; round++)
        {
            byte[] img = (byte[])image.Clone();
            bool inInode = (round & 1) == 0;
            long start = inInode ? area + 4 : block + 32;
            int length = inInode ? (int)(areaEnd - start) : 200;
            int flips = rng.Next(1, 6);
            for (int i = 0; i < flips; i++)
            {
                img[start + rng.Next(length)] = (byte)rng.Next(256);
            }

            using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
            try
            {
                fs.GetXattrs(inInode ? "/a" : "/b");
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {Seed}, round {round}: {e}");
            }
        }
    }

    /// <summary>Writing over a corrupt attribute area refuses before changing anything.</summary>
    [SkippableTheory]
    [InlineData("block checksum", 1023, 1, 0x5AL)]
    [InlineData("block refcount 0", 4, 4, 0L)]
    [InlineData("block magic", 0, 4, 0x12345678L)]
    public void SetXattr_CorruptBlock_ThrowsInvalidDataAndLeavesBlock(string what, int offset, int width, long value)
    {
        (_, string path) = fixture.Get();
        long block = Ext4XattrOracle.FileAcl(path, "/b");
        byte[] img = Corrupt((block * 1024) + offset, width, value);
        using var temp = new TempDirectory();
        string file = temp.File("corrupt.img");
        File.WriteAllBytes(file, img);
        using (Ext4FileSystem fs = Ext4FileSystem.Open(DiskImage.IO.FileBlockDevice.Open(file, writable: true), new Ext4OpenOptions { Writable = true }))
        {
            var ex = Assert.Throws<InvalidDataException>(() => fs.SetXattr("/b", "user.new", "v"u8.ToArray()));
            Assert.False(string.IsNullOrEmpty(ex.Message), what);
            Assert.Throws<InvalidDataException>(() => fs.RemoveXattr("/b", "user.big"));
        }

        byte[] after = File.ReadAllBytes(file);
        Assert.Equal(img.AsSpan(checked((int)(block * 1024)), 1024).ToArray(), after.AsSpan(checked((int)(block * 1024)), 1024).ToArray());
    }

    [SkippableFact]
    public void SetXattr_ValueInSeparateInode_ThrowsNotSupported()
    {
        byte[] img = Corrupt(InodeXattrAreaOffset("/a") + 4 + 4, 4, 11);
        using var temp = new TempDirectory();
        string file = temp.File("eainode.img");
        File.WriteAllBytes(file, img);

        // Writing always verifies checksums: let debugfs make the edited inode's checksum right again.
        ToolResult fix = Oracle.Run("debugfs", ["-w", "-n", "-R", "sif /a checksum calc", file], TimeSpan.FromMinutes(1));
        Assert.True(fix.ExitCode == 0, fix.ToString());
        using Ext4FileSystem fs = Ext4FileSystem.Open(DiskImage.IO.FileBlockDevice.Open(file, writable: true), new Ext4OpenOptions { Writable = true, VerifyChecksums = false });
        Assert.Throws<NotSupportedException>(() => fs.SetXattr("/a", "user.new", "v"u8.ToArray()));
    }

    private byte[] Corrupt(long offset, int width, long value)
    {
        byte[] img = (byte[])fixture.Get().Image.Clone();
        Poke(img, offset, width, value);
        return img;
    }

    /// <summary>Byte offset of the in-inode xattr area (the magic after i_extra_isize) of a path.</summary>
    private long InodeXattrAreaOffset(string file)
    {
        (byte[] image, string path) = fixture.Get();
        long inode = InodeOffset(path, file);
        long area = inode + 128 + BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)inode + 128));
        Assert.Equal(Ext4XattrLayout.Magic, BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)area)));
        return area;
    }

    private static long InodeOffset(string image, string path)
    {
        // "Inode 12 is part of block group 0\n\tlocated at block 1058, offset 0x0b00"
        string s = Ext4XattrOracle.Debugfs(image, false, "imap " + path).StandardOutput;
        int at = s.IndexOf("located at block ", StringComparison.Ordinal);
        Assert.True(at >= 0, s);
        string[] parts = s[(at + 17)..].Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024) + Convert.ToInt64(parts[2], 16);
    }

    private static void Poke(byte[] img, long offset, int width, long value)
    {
        switch (width)
        {
            case 1:
                img[offset] = (byte)value;
                break;
            case 2:
                BinaryPrimitives.WriteUInt16LittleEndian(img.AsSpan((int)offset), (ushort)value);
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan((int)offset), (uint)value);
                break;
        }
    }
}
