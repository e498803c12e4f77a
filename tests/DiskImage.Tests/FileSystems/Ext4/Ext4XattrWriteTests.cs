using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Writing xattrs through <c>SetXattr</c>/<c>RemoveXattr</c> into images made by mke2fs (256- and 128-byte
/// inodes, with and without metadata_csum, 1 and 4 KiB blocks): judged by <c>e2fsck -fn</c> and by what
/// <c>debugfs ea_list</c>/<c>ea_get</c> read back.
/// </summary>
public sealed class Ext4XattrWriteTests
{
    private static readonly string[] Paths = ["/a", "/b", "/c", "/d", "/d/e"];

    public static TheoryData<string> Images() => new()
    {
        "-t ext4 -b 4096",
        "-t ext4 -b 1024",
        "-t ext4 -b 1024 -I 128",
        "-t ext4 -b 1024 -O ^metadata_csum",
        "-t ext4 -b 4096 -I 128 -O ^metadata_csum,^64bit",
        "-t ext2 -b 1024",
    };

    private static Ext4FileSystem OpenWritable(string image) =>
        Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true });

    private static string MakeImage(TempDirectory temp, string options) =>
        Ext4XattrOracle.Mkfs(temp, "w", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

    /// <summary>Asserts that our reader and debugfs both see exactly <paramref name="model"/> on every path.</summary>
    private static void AssertMatches(string image, Dictionary<string, Dictionary<string, byte[]>> model)
    {
        Ext4XattrOracle.AssertClean(image);
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image)))
        {
            foreach ((string path, Dictionary<string, byte[]> expected) in model)
            {
                IReadOnlyDictionary<string, byte[]> actual = fs.GetXattrs(path);
                Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
                foreach ((string name, byte[] value) in expected)
                {
                    Assert.True(value.AsSpan().SequenceEqual(actual[name]), $"{path} {name} (ours)");
                }
            }
        }

        // One debugfs run lists every path and dumps every value.
        var commands = new List<string>();
        var files = new List<(string Path, string Name, string File)>();
        foreach ((string path, Dictionary<string, byte[]> expected) in model)
        {
            foreach (string name in expected.Keys)
            {
                string file = image + ".v" + files.Count.ToString(CultureInfo.InvariantCulture);
                File.Delete(file);
                commands.Add($"ea_get -f {file} {path} {name}");
                files.Add((path, name, file));
            }
        }

        if (commands.Count != 0)
        {
            Ext4XattrOracle.Debugfs(image, false, [.. commands]);
        }

        foreach ((string path, string name, string file) in files)
        {
            Assert.True(File.Exists(file), $"debugfs has no {name} on {path}");
            byte[] seen = File.ReadAllBytes(file);
            if (name.StartsWith("system.posix_acl_", StringComparison.Ordinal))
            {
                NormalizeLibext2fsAcl(seen);
            }

            Assert.True(model[path][name].AsSpan().SequenceEqual(seen), $"{path} {name} (debugfs)");
        }

        foreach ((string path, Dictionary<string, byte[]> expected) in model)
        {
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), Ext4XattrOracle.EaNames(image, path));
        }
    }

    /// <summary>libext2fs translates the owner, owning group, mask and other entries with id 0; the kernel (and we) use 0xFFFFFFFF.</summary>
    private static void NormalizeLibext2fsAcl(byte[] acl)
    {
        for (int off = 4; off + 8 <= acl.Length; off += 8)
        {
            if (BinaryPrimitives.ReadUInt16LittleEndian(acl.AsSpan(off)) is 0x01 or 0x04 or 0x10 or 0x20)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(acl.AsSpan(off + 4), uint.MaxValue);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Images))]
    public void SetXattr_TypicalAttributes_FsckCleanAndReadBack(string options)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, options);
        var model = Paths.ToDictionary(p => p, _ => new Dictionary<string, byte[]>(StringComparer.Ordinal));
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            void Set(string path, string name, byte[] value)
            {
                fs.SetXattr(path, name, value);
                model[path][name] = value;
            }

            Set("/a", "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
            Set("/a", "user.small", "v"u8.ToArray());
            Set("/a", "user.empty", []);
            Set("/a", "trusted.overlay.opaque", "y"u8.ToArray());
            Set("/a", "system.posix_acl_access", Ext4XattrAclTests.NamedAcl());
            Set("/d", "system.posix_acl_default", Ext4XattrAclTests.MinimalAcl());
            Set("/d", "system.posix_acl_access", Ext4XattrAclTests.MinimalAcl());
            Set("/b", "user.big", Enumerable.Range(0, 700).Select(i => (byte)i).ToArray());
            Set("/b", "user.tiny", "t"u8.ToArray());
            Set("/c", "user.x", new byte[50]);
            Set("/c", "user.x", new byte[3]);
            Set("/c", "user.x", Encoding.UTF8.GetBytes(new string('q', 90)));
            Set("/d/e", "security.capability", [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            Assert.True(fs.RemoveXattr("/a", "user.small"));
            model["/a"].Remove("user.small");
            Assert.False(fs.RemoveXattr("/a", "user.small"));
            Assert.False(fs.RemoveXattr("/c", "user.never"));
        }

        AssertMatches(image, model);
    }

    [SkippableFact]
    public void SetXattr_SmallValuesWith256ByteInodes_StayInInode()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -b 1024 -I 256");
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/a", "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
            fs.SetXattr("/a", "user.s", "1"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(0, Ext4XattrOracle.FileAcl(image, "/a"));

        // A value too large for the inode moves to a block; removing it releases the block again.
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/a", "user.s", new byte[200]);
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.NotEqual(0, Ext4XattrOracle.FileAcl(image, "/a"));
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/a", "user.s", "back"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(0, Ext4XattrOracle.FileAcl(image, "/a"));
        Assert.Equal("back"u8.ToArray(), Ext4XattrOracle.EaGet(image, "/a", "user.s"));
    }

    [SkippableFact]
    public void SetXattr_ValueTooLargeForInodeAndBlock_ThrowsIOExceptionAndChangesNothing()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -b 1024");
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/a", "user.keep", "k"u8.ToArray());
            Assert.Throws<IOException>(() => fs.SetXattr("/a", "user.huge", new byte[1100]));
            Assert.Throws<ArgumentException>(() => fs.SetXattr("/a", "user.huger", new byte[70000]));
            Assert.Throws<ArgumentException>(() => fs.SetXattr("/a", "user." + new string('n', 256), "v"u8.ToArray()));
            Assert.Throws<ArgumentException>(() => fs.SetXattr("/a", "system.data", "v"u8.ToArray()));
            Assert.Throws<ArgumentException>(() => fs.SetXattr("/a", "system.posix_acl_access", [2, 0, 0, 0, 1]));
            fs.SetXattr("/a", "user." + new string('n', 255), "v"u8.ToArray());
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(["user.keep", "user." + new string('n', 255)], Ext4XattrOracle.EaNames(image, "/a"));
    }

    /// <summary>Seeded random set/replace/remove sequences, reopened and judged every 40 operations.</summary>
    [SkippableTheory]
    [InlineData("-t ext4 -b 1024", 1)]
    [InlineData("-t ext4 -b 1024 -I 128", 2)]
    [InlineData("-t ext4 -b 4096 -O ^metadata_csum", 3)]
    [InlineData("-t ext4 -b 1024 -I 512", 4)]
    public void SetXattr_RandomSequence_MatchesModel(string options, int seed)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, options);
        var rng = new Random(seed);
        var model = Paths.ToDictionary(p => p, _ => new Dictionary<string, byte[]>(StringComparer.Ordinal));
        string[] names =
        [
            "user.a", "user.bb", "user.ccc", "user.dddd", "user.a-much-longer-attribute-name-for-padding", "trusted.t",
            "security.selinux", "security.ima", "system.posix_acl_access",
        ];
        byte[][] acls = [Ext4XattrAclTests.MinimalAcl(), Ext4XattrAclTests.NamedAcl()];
        for (int round = 0; round < 3; round++)
        {
            using (Ext4FileSystem fs = OpenWritable(image))
            {
                for (int op = 0; op < 40; op++)
                {
                    string path = Paths[rng.Next(Paths.Length)];
                    string name = names[rng.Next(names.Length)];
                    string context = $"seed {seed}, round {round}, op {op}: {path} {name}";
                    if (rng.Next(10) < 3)
                    {
                        Assert.True(fs.RemoveXattr(path, name) == model[path].Remove(name), context);
                        continue;
                    }

                    byte[] value;
                    if (name == "system.posix_acl_access")
                    {
                        value = acls[rng.Next(acls.Length)];
                    }
                    else
                    {
                        int size = rng.Next(10) switch
                        {
                            < 5 => rng.Next(0, 17),
                            < 9 => rng.Next(17, 120),
                            _ => rng.Next(120, 700),
                        };
                        value = new byte[size];
                        rng.NextBytes(value);
                    }

                    try
                    {
                        fs.SetXattr(path, name, value);
                        model[path][name] = value;
                    }
                    catch (IOException)
                    {
                        // Only when the attributes cannot fit in one block even with the inode's help.
                        int footprint = 0;
                        foreach ((string n, byte[] v) in model[path])
                        {
                            if (n != name)
                            {
                                footprint += Ext4XattrLayout.EntrySize(Ext4XattrLayout.ParseName(n).Name.Length) + Ext4XattrLayout.ValueSize(v.Length);
                            }
                        }

                        footprint += Ext4XattrLayout.EntrySize(Ext4XattrLayout.ParseName(name).Name.Length) + Ext4XattrLayout.ValueSize(value.Length);
                        Assert.True(footprint > Ext4XattrOracle.BlockSize(image) - 36, context + $": IOException with {footprint} bytes of attributes");
                    }

                    IReadOnlyDictionary<string, byte[]> now = fs.GetXattrs(path);
                    Assert.True(now.Count == model[path].Count, context);
                }
            }

            AssertMatches(image, model);
        }
    }

    /// <summary>Our Format (Debian 12 and RHEL 7 profiles, 128- and 256-byte inodes), files created through the contract.</summary>
    [SkippableTheory]
    [InlineData(Ext4FormatProfile.Debian12, 256, 1024)]
    [InlineData(Ext4FormatProfile.Debian12, 128, 4096)]
    [InlineData(Ext4FormatProfile.Rhel7, 256, 4096)]
    [InlineData(Ext4FormatProfile.Rhel7, 128, 1024)]
    public void SetXattr_OnFormattedImageNewFiles_FsckCleanAndReadBack(Ext4FormatProfile profile, int inodeSize, int blockSize)
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string image = temp.File("f.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, 16L << 20))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions { Profile = profile, InodeSize = inodeSize, BlockSize = blockSize });
        }

        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.CreateDirectory("/etc");
            model["/etc"] = [];
            for (int i = 0; i < 12; i++)
            {
                string path = "/etc/f" + i.ToString(CultureInfo.InvariantCulture);
                using (Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
                {
                    s.Write("data"u8);
                }

                var x = new Dictionary<string, byte[]>(StringComparer.Ordinal)
                {
                    ["security.selinux"] = "system_u:object_r:etc_t:s0\0"u8.ToArray(),
                    ["user.i"] = Encoding.ASCII.GetBytes(new string('i', i * 23)),
                };
                if (i % 3 == 0)
                {
                    x["system.posix_acl_access"] = Ext4XattrAclTests.NamedAcl();
                }

                foreach ((string name, byte[] value) in x)
                {
                    fs.SetXattr(path, name, value);
                }

                model[path] = x;
            }

            fs.SetXattr("/etc", "system.posix_acl_default", Ext4XattrAclTests.MinimalAcl());
            model["/etc"]["system.posix_acl_default"] = Ext4XattrAclTests.MinimalAcl();
        }

        AssertMatches(image, model);

        // Deleting files frees their private xattr blocks: e2fsck would report them as leaked otherwise.
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            for (int i = 0; i < 12; i += 2)
            {
                string path = "/etc/f" + i.ToString(CultureInfo.InvariantCulture);
                fs.Delete(path);
                model.Remove(path);
            }
        }

        AssertMatches(image, model);
    }

    /// <summary>Files with inline data keep their hidden system.data entry in the inode while other attributes come and go.</summary>
    [SkippableFact]
    public void SetXattr_InlineDataFile_KeepsDataInInode()
    {
        using var temp = new TempDirectory();
        string src = temp.File("src");
        Directory.CreateDirectory(src);
        byte[] content = Encoding.ASCII.GetBytes(new string('z', 100));
        File.WriteAllBytes(Path.Combine(src, "inline"), content);
        string image = temp.File("inline.img");
        Ext4TestImages.Build(src, image, 8192, "-t", "ext4", "-b", "1024", "-O", "inline_data");
        Assert.Contains("Size of inline data: ", Ext4XattrOracle.Debugfs(image, false, "stat /inline").StandardOutput, StringComparison.Ordinal);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/inline", "user.a", new byte[40]);
            fs.SetXattr("/inline", "user.b", new byte[300]);
            fs.SetXattr("/inline", "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
            Assert.True(fs.RemoveXattr("/inline", "user.a"));
        }

        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(["security.selinux", "system.data", "user.b"], Ext4XattrOracle.EaNames(image, "/inline"));
        string dump = temp.File("dump");
        Ext4XattrOracle.Debugfs(image, false, $"dump /inline {dump}");
        Assert.Equal(content, File.ReadAllBytes(dump));
        using Ext4FileSystem check = Ext4FileSystem.Open(FileBlockDevice.Open(image));
        using Stream s = check.OpenFile("/inline", FileMode.Open, FileAccess.Read);
        var read = new MemoryStream();
        s.CopyTo(read);
        Assert.Equal(content, read.ToArray());
    }

    /// <summary>Symbolic links (fast and slow), directories and device nodes carry xattrs too; a fast symlink's i_blocks then counts only the xattr block.</summary>
    [SkippableTheory]
    [InlineData(128)]
    [InlineData(256)]
    public void SetXattr_SymlinksDirectoriesDevices_FsckClean(int inodeSize)
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string image = temp.File("l.img");
        using (FileBlockDevice device = FileBlockDevice.Create(image, 8L << 20))
        {
            Ext4FileSystem.Format(device, new Ext4FormatOptions { InodeSize = inodeSize, BlockSize = 1024 });
        }

        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.CreateSymbolicLink("/fast", "target");
            fs.CreateSymbolicLink("/slow", "/" + new string('t', 200));
            fs.CreateDirectory("/dir");
            fs.CreateDevice("/null", DiskImage.FileSystems.UnixFileType.CharacterDevice, 1, 3);
            fs.CreateFifo("/fifo");
            foreach (string p in new[] { "/fast", "/slow", "/dir", "/null", "/fifo", "/" })
            {
                var x = new Dictionary<string, byte[]>(StringComparer.Ordinal)
                {
                    ["security.selinux"] = "system_u:object_r:device_t:s0\0"u8.ToArray(),
                    ["trusted.big"] = new byte[150],
                };
                foreach ((string n, byte[] v) in x)
                {
                    fs.SetXattr(p, n, v);
                }

                model[p] = x;
            }
        }

        AssertMatches(image, model);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            Assert.Equal("target", fs.GetEntry("/fast").LinkTarget);
            fs.Delete("/fast");
            fs.Delete("/slow");
            model.Remove("/fast");
            model.Remove("/slow");
        }

        AssertMatches(image, model);
    }

    /// <summary>
    /// Neither the inode (92 bytes) nor the 1 KiB block has room for the new value, but moving a small block entry and
    /// the new one into the inode and a larger in-inode entry into the block makes everything fit.
    /// </summary>
    [SkippableFact]
    public void SetXattr_FitsOnlyAfterRepacking_MovesEntriesBetweenInodeAndBlock()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "-t ext4 -b 1024 -I 256");
        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal) { ["/a"] = [] };
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            void Set(string name, int length)
            {
                byte[] v = new byte[length];
                new Random(length).NextBytes(v);
                fs.SetXattr("/a", name, v);
                model["/a"][name] = v;
            }

            Set("user.a", 68);    // fills the inode: 4 + 20 + 68 = 92
            Set("user.t", 4);     // → block
            Set("user.b", 908);   // → block: 4 + 24 + 928 = 956 of 992
            Set("user.a", 40);    // stays in the inode: 4 + 60 = 64 of 92
            Set("user.n", 20);    // 40 more: neither 104 > 92 nor 996 > 992; repacked: inode t, n; block a, b
        }

        AssertMatches(image, model);
        Assert.NotEqual(0, Ext4XattrOracle.FileAcl(image, "/a"));
    }

    /// <summary>A file system made without ext_attr gets the feature with its first attribute, as the kernel does.</summary>
    [SkippableTheory]
    [InlineData("-t ext4 -b 1024 -O ^ext_attr")]
    [InlineData("-t ext2 -b 1024 -I 128 -O ^ext_attr")]
    public void SetXattr_NoExtAttrFeature_SetsFeature(string options)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, options);
        Assert.DoesNotContain("ext_attr", Ext4XattrOracle.Debugfs(image, false, "features").StandardOutput, StringComparison.Ordinal);
        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal)
        {
            ["/a"] = new(StringComparer.Ordinal) { ["user.x"] = "1"u8.ToArray(), ["user.big"] = new byte[400] },
        };
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            fs.SetXattr("/a", "user.x", "1"u8.ToArray());
            fs.SetXattr("/a", "user.big", new byte[400]);
        }

        Assert.Contains("ext_attr", Ext4XattrOracle.Debugfs(image, false, "features").StandardOutput, StringComparison.Ordinal);
        AssertMatches(image, model);
    }

    /// <summary>Xattrs set and removed while the file is open for writing: the stream's later inode write keeps them and i_blocks stays exact.</summary>
    [SkippableTheory]
    [InlineData("-t ext4 -b 1024 -I 128")]
    [InlineData("-t ext4 -b 4096")]
    public void SetXattr_FileOpenForWriting_BothSurvive(string options)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, options);
        byte[] data = new byte[50_000];
        new Random(5).NextBytes(data);
        using (Ext4FileSystem fs = OpenWritable(image))
        {
            using (Stream s = fs.OpenFile("/a", FileMode.Open, FileAccess.Write))
            {
                s.Write(data, 0, 20_000);
                fs.SetXattr("/a", "user.during", new byte[500]);
                fs.SetXattr("/a", "user.gone", "g"u8.ToArray());
                s.Write(data, 20_000, 30_000);
                Assert.True(fs.RemoveXattr("/a", "user.gone"));
            }

            using (Stream s = fs.OpenFile("/b", FileMode.Open, FileAccess.Write))
            {
                fs.SetXattr("/b", "user.x", new byte[500]);
                s.SetLength(0);
                s.Write(data);
                fs.RemoveXattr("/b", "user.x");
            }
        }

        AssertMatches(image, new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal)
        {
            ["/a"] = new(StringComparer.Ordinal) { ["user.during"] = new byte[500] },
            ["/b"] = new(StringComparer.Ordinal),
        });
        string dump = temp.File("dump");
        Ext4XattrOracle.Debugfs(image, false, $"dump /a {dump}");
        Assert.Equal(data, File.ReadAllBytes(dump));
    }
}
