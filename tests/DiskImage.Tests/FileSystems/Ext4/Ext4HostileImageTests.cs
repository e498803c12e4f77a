using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>Small images made by mke2fs (e2fsprogs 1.47) for the hostile-image tests, built once.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4HostileFixture : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, (byte[] Image, string Path)> _images = new(StringComparer.Ordinal);

    /// <summary>Builds (once) an image of a small tree: a fragmented file (depth-1 extent tree), a 600-entry directory indexed by e2fsck -D, xattrs in a block, a large file.</summary>
    public (byte[] Image, string Path) Get(string options)
    {
        lock (_images)
        {
            if (_images.TryGetValue(options, out (byte[], string) hit))
            {
                return hit;
            }

            string src = Path.Combine(_temp.Path, "src-" + _images.Count.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(Path.Combine(src, "big"));
            Directory.CreateDirectory(Path.Combine(src, "d", "e"));
            var rng = new Random(99);
            using (var s = new FileStream(Path.Combine(src, "frag"), FileMode.CreateNew))
            {
                for (int i = 0; i < 40; i++)
                {
                    s.Position = i * 4096L;
                    byte[] b = new byte[1024];
                    rng.NextBytes(b);
                    s.Write(b);
                }
            }

            byte[] large = new byte[300_000];
            rng.NextBytes(large);
            File.WriteAllBytes(Path.Combine(src, "large"), large);
            for (int i = 0; i < 600; i++)
            {
                File.WriteAllText(Path.Combine(src, "big", "name-" + i.ToString("D4", CultureInfo.InvariantCulture) + "-padding-padding"), "x");
            }

            File.WriteAllText(Path.Combine(src, "x"), "xattrs");
            HostFiles.SetXattr(Path.Combine(src, "x"), "user.big", new byte[300]);
            HostFiles.SetXattr(Path.Combine(src, "x"), "user.small", "v"u8.ToArray());
            File.CreateSymbolicLink(Path.Combine(src, "d", "link"), "/" + new string('l', 100));
            string img = Path.Combine(_temp.Path, "img-" + _images.Count.ToString(CultureInfo.InvariantCulture));
            Ext4TestImages.Build(src, img, 4096, ["-b", "1024", .. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
            ToolResult fsck = Oracle.Run("e2fsck", ["-fyD", img], TimeSpan.FromMinutes(1));
            Assert.True(fsck.ExitCode is 0 or 1, fsck.ToString());
            (byte[], string) result = (File.ReadAllBytes(img), img);
            _images[options] = result;
            return result;
        }
    }

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// Hostile images (issue acceptance 5): corrupt superblock fields, descriptor counts, extent headers,
/// directory entries, htree roots, xattr offsets and block-map cycles must give
/// <see cref="InvalidDataException"/> (or <see cref="NotSupportedException"/> for unknown features),
/// never another exception, a hang or a huge allocation; plus seeded bit-flip fuzzing.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class Ext4HostileImageTests(Ext4HostileFixture fixture) : IClassFixture<Ext4HostileFixture>
{
    private static readonly Ext4OpenOptions NoChecksums = new() { VerifyChecksums = false };

    private (byte[] Image, string Path) Base(string options = "-t ext4")
    {
        Oracle.Require("mke2fs");
        Oracle.Require("debugfs");
        return fixture.Get(options);
    }

    [SkippableFact]
    public void ReadAll_UncorruptedImage_Succeeds()
    {
        byte[] img = Base().Image;
        Assert.True(ReadEverything(Ext4TestImages.Open(img)) > 600);
        Assert.True(ReadEverything(Ext4TestImages.Open(Base("-t ext2").Image)) > 600);
    }

    [SkippableTheory]
    [InlineData(0x38, 2, 0x1234L, "magic")]
    [InlineData(0x18, 4, 20L, "block size")]
    [InlineData(0x04, 4, 0x7FFFFFFFL, "block count beyond device")]
    [InlineData(0x28, 4, 0L, "inodes per group zero")]
    [InlineData(0x00, 4, 12345L, "inode count mismatch")]
    [InlineData(0x20, 4, 7L, "blocks per group")]
    [InlineData(0x58, 2, 100L, "inode size")]
    [InlineData(0xFE, 2, 3L, "descriptor size")]
    [InlineData(0x14, 4, 5L, "first data block")]
    public void Open_CorruptSuperblockField_ThrowsInvalidData(int offset, int width, long value, string what)
    {
        byte[] img = (byte[])Base().Image.Clone();
        Poke(img, 1024 + offset, width, value);
        var ex = Assert.Throws<InvalidDataException>(() => Ext4TestImages.Open(img, NoChecksums));
        Assert.False(string.IsNullOrEmpty(ex.Message), what);

        // With checksums on, the superblock checksum catches it first.
        Assert.Throws<InvalidDataException>(() => Ext4TestImages.Open(img));
    }

    [SkippableFact]
    public void Open_UnknownIncompatibleFeature_ThrowsNotSupported()
    {
        byte[] img = (byte[])Base().Image.Clone();
        Poke(img, 1024 + 0x60, 4, BinaryPrimitives.ReadUInt32LittleEndian(img.AsSpan(1024 + 0x60)) | 0x80000000u);
        Assert.Throws<NotSupportedException>(() => Ext4TestImages.Open(img, NoChecksums));
    }

    [SkippableTheory]
    [InlineData("journal_dev")]
    public void Open_RefusedFeature_ThrowsNotSupportedNamingIt(string feature)
    {
        Oracle.Require("mke2fs");
        using var temp = new TempDirectory();
        string img = temp.File("f.img");
        ToolResult r = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-O", feature, img, "8M"], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        var ex = Assert.Throws<NotSupportedException>(() => Ext4TestImages.Open(File.ReadAllBytes(img)));
        Assert.Contains(feature == "journal_dev" ? "journal" : feature, ex.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_JournalNeedsRecovery_RefusedUnlessAllowed()
    {
        byte[] img = (byte[])Base().Image.Clone();
        Poke(img, 1024 + 0x60, 4, BinaryPrimitives.ReadUInt32LittleEndian(img.AsSpan(1024 + 0x60)) | 0x4u);
        Assert.Throws<NotSupportedException>(() => Ext4TestImages.Open(img, NoChecksums));
        using Ext4FileSystem fs = Ext4TestImages.Open(img, new Ext4OpenOptions { VerifyChecksums = false, AllowJournalRecoveryNeeded = true });
        Assert.True(fs.Exists("/large"));
    }

    [SkippableFact]
    public void Open_CorruptedSuperblockWithChecksums_ThrowsInvalidData()
    {
        byte[] img = (byte[])Base().Image.Clone();
        img[1024 + 0x78] ^= 0x20; // volume label: harmless except for the checksum
        Assert.Throws<InvalidDataException>(() => Ext4TestImages.Open(img));
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.True(fs.Exists("/x"));
    }

    [SkippableFact]
    public void Open_InodeTableOutsideFileSystem_ThrowsInvalidData()
    {
        byte[] img = (byte[])Base().Image.Clone();
        int desc = 2048; // 1 KiB blocks: descriptors in block 2
        Poke(img, desc + 0x08, 4, 0x00FFFFFF);
        Assert.Throws<InvalidDataException>(() => Ext4TestImages.Open(img, NoChecksums));
        Assert.Throws<InvalidDataException>(() => Ext4TestImages.Open((byte[])Mutate(Base().Image, b => b[desc + 0x0C] ^= 1)));
    }

    [SkippableTheory]
    [InlineData("depth", 6, 2, 7L)]
    [InlineData("entries beyond max", 2, 2, 9L)]
    [InlineData("max beyond capacity", 4, 2, 200L)]
    [InlineData("magic", 0, 2, 0xBEEFL)]
    public void ReadFile_CorruptExtentRoot_ThrowsInvalidData(string what, int offset, int width, long value)
    {
        (byte[] image, string path) = Base();
        long inodeOffset = InodeOffset(path, "/frag");
        byte[] img = (byte[])image.Clone();
        Poke(img, inodeOffset + 0x28 + offset, width, value);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        var ex = Assert.Throws<InvalidDataException>(() => ConformanceTree.ReadAll(fs, "/frag"));
        Assert.Contains("extent", ex.Message, StringComparison.OrdinalIgnoreCase);
        _ = what;
    }

    [SkippableFact]
    public void ReadFile_ExtentIndexDuplicatedOrWrongChildDepth_ThrowsInvalidData()
    {
        (byte[] image, string path) = Base();
        long ino = InodeOffset(path, "/frag");
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)ino + 0x28 + 6))); // depth-1 tree
        byte[] twice = (byte[])image.Clone();
        Span<byte> root = twice.AsSpan((int)ino + 0x28, 60);
        root[12..24].CopyTo(root[24..36]);
        BinaryPrimitives.WriteUInt32LittleEndian(root[24..], 100_000);
        BinaryPrimitives.WriteUInt16LittleEndian(root[2..], 2);
        using (Ext4FileSystem fs = Ext4TestImages.Open(twice, NoChecksums))
        {
            Assert.Contains("twice", Assert.Throws<InvalidDataException>(() => ConformanceTree.ReadAll(fs, "/frag")).Message, StringComparison.Ordinal);
        }

        byte[] deeper = (byte[])image.Clone();
        Poke(deeper, ino + 0x28 + 6, 2, 2); // the child leaf now has the wrong depth
        using (Ext4FileSystem fs = Ext4TestImages.Open(deeper, NoChecksums))
        {
            Assert.Throws<InvalidDataException>(() => ConformanceTree.ReadAll(fs, "/frag"));
        }
    }

    [SkippableTheory]
    [InlineData(0L)]
    [InlineData(5L)]
    [InlineData(0x7FF0L)]
    public void EnumerateDirectory_BadRecLen_ThrowsInvalidData(long recLen)
    {
        (byte[] image, string path) = Base();
        long block = FirstBlock(path, "/d");
        byte[] img = (byte[])image.Clone();
        Poke(img, (block * 1024) + 4, 2, recLen);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.EnumerateDirectory("/d").ToList());
        using Ext4FileSystem checkedFs = Ext4TestImages.Open(img);
        Assert.Throws<InvalidDataException>(() => checkedFs.EnumerateDirectory("/d").ToList());
    }

    [SkippableFact]
    public void EnumerateDirectory_EntryWithInodeOutOfRange_ThrowsInvalidData()
    {
        (byte[] image, string path) = Base();
        long block = FirstBlock(path, "/d");
        byte[] img = (byte[])image.Clone();
        Poke(img, block * 1024, 4, 0x7FFFFFFF);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.EnumerateDirectory("/d").ToList());
    }

    [SkippableTheory]
    [InlineData(0x1E, 1, 7L)]
    [InlineData(0x1D, 1, 9L)]
    [InlineData(0x20, 2, 3L)]
    [InlineData(0x22, 2, 0L)]
    [InlineData(0x24, 4, 0x00FFFFFFL)]
    public void EnumerateDirectory_CorruptHtreeRoot_ThrowsInvalidData(int offset, int width, long value)
    {
        (byte[] image, string path) = Base();
        Assert.Contains("Flags: 0x81000", Oracle.Run("debugfs", ["-R", "stat /big", path]).StandardOutput, StringComparison.Ordinal);
        long block = FirstBlock(path, "/big");
        byte[] img = (byte[])image.Clone();
        Poke(img, (block * 1024) + offset, width, value);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.EnumerateDirectory("/big").ToList());
    }

    [SkippableTheory]
    [InlineData(2, 2, 0xFFF0L)]
    [InlineData(8, 4, 0x7FFFFFFFL)]
    [InlineData(0, 1, 250L)]
    public void GetXattrs_BlockEntryOutOfBounds_ThrowsInvalidData(int offset, int width, long value)
    {
        (byte[] image, string path) = Base();
        string stat = Oracle.Run("debugfs", ["-R", "stat /x", path]).StandardOutput;
        long acl = long.Parse(stat[(stat.IndexOf("File ACL: ", StringComparison.Ordinal) + 10)..].Split(' ', '\n')[0], CultureInfo.InvariantCulture);
        Assert.NotEqual(0, acl);
        byte[] img = (byte[])image.Clone();
        Poke(img, (acl * 1024) + 32 + offset, width, value);
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Throws<InvalidDataException>(() => fs.GetXattrs("/x"));
        using Ext4FileSystem checkedFs = Ext4TestImages.Open(img);
        Assert.Throws<InvalidDataException>(() => checkedFs.GetXattrs("/x"));
    }

    [SkippableFact]
    public void ReadFile_BlockMapCycle_ThrowsInvalidData()
    {
        (byte[] image, string path) = Base("-t ext2");
        long ino = InodeOffset(path, "/large");
        uint dind = BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)ino + 0x28 + (13 * 4)));
        Assert.NotEqual(0u, dind);
        byte[] img = (byte[])image.Clone();
        Poke(img, dind * 1024L, 4, dind); // the double-indirect block lists itself as an indirect block
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.Contains("twice", Assert.Throws<InvalidDataException>(() => ConformanceTree.ReadAll(fs, "/large")).Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void GetEntry_DirectoryCycle_StaysFinite()
    {
        // A directory entry that points back at an ancestor makes the graph cyclic; the API never
        // recurses on its own, so lookups stay finite and the caller's walk can detect the repeat by inode.
        (byte[] image, string path) = Base("-t ext2");
        long block = FirstBlock(path, "/d/e");
        byte[] img = (byte[])image.Clone();
        Poke(img, block * 1024, 4, 2); // "." of /d/e → root inode
        using Ext4FileSystem fs = Ext4TestImages.Open(img, NoChecksums);
        Assert.True(ReadEverything(fs) > 0);
    }

    [SkippableTheory]
    [InlineData("-t ext4", 150, false)]
    [InlineData("-t ext4", 150, true)]
    [InlineData("-t ext2", 100, false)]
    [InlineData("-t ext4 -O inline_data,metadata_csum_seed", 100, false)]
    public void ReadAll_BitFlippedMetadata_ThrowsOnlyInvalidDataOrNotSupported(string options, int iterations, bool verifyChecksums)
    {
        (byte[] image, _) = Base(options);
        int metadataEnd = MetadataRegionEnd(image);
        for (int iter = 0; iter < iterations; iter++)
        {
            int seed = 1000 * iterations + iter + (verifyChecksums ? 500_000 : 0) + options.Length * 7919;
            var rng = new Random(seed);
            byte[] img = (byte[])image.Clone();
            int flips = 1 + rng.Next(8);
            for (int f = 0; f < flips; f++)
            {
                int at = 1024 + rng.Next(metadataEnd - 1024);
                img[at] ^= (byte)(1 << rng.Next(8));
            }

            var task = Task.Run(() =>
            {
                try
                {
                    using Ext4FileSystem fs = Ext4TestImages.Open(img, new Ext4OpenOptions { VerifyChecksums = verifyChecksums });
                    ReadEverything(fs);
                }
                catch (InvalidDataException)
                {
                }
                catch (NotSupportedException)
                {
                }
                catch (IOException e) when (e is not EndOfStreamException)
                {
                    // Paths that vanish or change type after a flip: FileNotFound, DirectoryNotFound, symlink loops.
                }
                catch (UnauthorizedAccessException)
                {
                }
            });
            try
            {
                Assert.True(task.Wait(TimeSpan.FromSeconds(20)), $"seed {seed}: read did not finish (hang?)");
            }
            catch (AggregateException e)
            {
                Assert.Fail($"options '{options}', seed {seed}: {e.InnerException}");
            }
        }
    }

    /// <summary>Walks the whole tree (visited inodes, depth cap), reading every entry, file, link and xattr set. Returns the entry count.</summary>
    private static int ReadEverything(Ext4FileSystem fs)
    {
        int count = 0;
        var seen = new HashSet<long>();
        var stack = new Stack<(string Path, int Depth)>();
        stack.Push(("/", 0));
        byte[] buf = new byte[65536];
        while (stack.Count > 0)
        {
            (string dir, int depth) = stack.Pop();
            foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
            {
                count++;
                fs.GetXattrs(e.Path);
                if (e.Type == UnixFileType.Directory && depth < 32 && seen.Add(e.Inode))
                {
                    stack.Push((e.Path, depth + 1));
                }
                else if (e.Type == UnixFileType.RegularFile && seen.Add(e.Inode))
                {
                    using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                    long total = 0;
                    int n;
                    while ((n = s.Read(buf)) > 0 && total < (64L << 20))
                    {
                        total += n;
                    }
                }
            }
        }

        return count;
    }

    private static long InodeOffset(string image, string path)
    {
        // "Inode 12 is part of block group 0\n\tlocated at block 1058, offset 0x0b00"
        string s = Oracle.Run("debugfs", ["-R", "imap " + path, image]).StandardOutput;
        int at = s.IndexOf("located at block ", StringComparison.Ordinal);
        Assert.True(at >= 0, s);
        string[] parts = s[(at + 17)..].Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        long block = long.Parse(parts[0], CultureInfo.InvariantCulture);
        long offset = Convert.ToInt64(parts[2], 16);
        string bs = Oracle.Run("debugfs", ["-R", "stats", image]).StandardOutput;
        int b = bs.IndexOf("Block size:", StringComparison.Ordinal);
        long blockSize = long.Parse(bs[(b + 11)..].Split('\n')[0].Trim(), CultureInfo.InvariantCulture);
        return (block * blockSize) + offset;
    }

    private static long FirstBlock(string image, string path)
    {
        // "bmap" maps logical block 0 ("blocks" would also list extent-tree blocks).
        string s = Oracle.Run("debugfs", ["-R", "bmap " + path + " 0", image]).StandardOutput;
        return long.Parse(s.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>End of the region worth flipping: superblock, descriptors, bitmaps, inode tables and the first directory blocks of a 4 MiB image.</summary>
    private static int MetadataRegionEnd(byte[] image) => Math.Min(image.Length, 1024 * 1024);

    private static byte[] Mutate(byte[] image, Action<byte[]> change)
    {
        byte[] copy = (byte[])image.Clone();
        change(copy);
        return copy;
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
