using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.Oracles;

/// <summary>
/// The debugfs tree reader checked against mke2fs -d (e2fsprogs) images whose content is known: every kind
/// of entry, xattrs in the inode and in a block, POSIX ACLs, fast and slow symlinks, hard links, holes and
/// names with spaces; and against the managed reader on the same image.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class DebugfsTreeTests
{
    [SkippableTheory]
    [InlineData("-T", "default")]
    [InlineData("-T", "default", "-I", "128")]
    [InlineData("-T", "default", "-b", "1024", "-O", "^metadata_csum,^64bit")]
    public void Read_MkfsImageOfKnownTree_MatchesManagedReaderAndSource(params string[] mkfsOptions)
    {
        Oracle.Require("debugfs");
        Skip.IfNot(HostFiles.IsRoot, "device nodes and owners in the source tree need root");
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "dir with space"));
        File.WriteAllBytes(Path.Combine(src, "file"), [1, 2, 3]);
        using (var fs = File.Create(Path.Combine(src, "sparse")))
        {
            fs.Seek(3 << 20, SeekOrigin.Begin);
            fs.Write("end"u8);
        }

        HostFiles.Link(Path.Combine(src, "file"), Path.Combine(src, "dir with space", "hard ü"));
        File.CreateSymbolicLink(Path.Combine(src, "fast"), "file");
        string longTarget = "/" + new string('t', 200);
        File.CreateSymbolicLink(Path.Combine(src, "slow"), longTarget);
        HostFiles.Mknod(Path.Combine(src, "chr"), UnixFileType.CharacterDevice, 0x1A4, 4, 5);
        HostFiles.Mknod(Path.Combine(src, "blk"), UnixFileType.BlockDevice, 0x180, 259, 70000);
        HostFiles.Mknod(Path.Combine(src, "fifo"), UnixFileType.Fifo, 0x1A4, 0, 0);
        HostFiles.SetXattr(Path.Combine(src, "file"), "user.small", "hello"u8.ToArray());
        HostFiles.SetXattr(Path.Combine(src, "file"), "trusted.bin", [0, 1, 0xFF, 0x22, 0x5C, 0x0A]);
        HostFiles.SetXattr(Path.Combine(src, "dir with space"), "user.big", new byte[900]);
        byte[] acl = [2, 0, 0, 0, 1, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 6, 0, 0xE8, 3, 0, 0, 4, 0, 5, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            0x10, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        HostFiles.SetXattr(Path.Combine(src, "dir with space"), "system.posix_acl_access", acl);
        HostFiles.SetXattr(Path.Combine(src, "dir with space"), "system.posix_acl_default", acl);
        HostFiles.Chown(Path.Combine(src, "file"), 70000, 1000);

        string image = tmp.File("image");
        FileSystems.Ext4.Ext4TestImages.Build(src, image, 16384, mkfsOptions);
        RandomTreeSnapshot viaDebugfs = DebugfsTree.Read(image, tmp.Path);

        using var device = FileBlockDevice.Open(image);
        using var ext4 = Ext4FileSystem.Open(device);
        RandomTreeSnapshot viaReader = RandomTreeSnapshot.FromFileSystem(ext4);
        List<string> diffs = RandomTreeSnapshot.Compare(viaReader, viaDebugfs, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join("\n", diffs));

        RandomTreeSnapshot.Entry file = viaDebugfs.Entries["/file"];
        Assert.Equal((70000u, 1000u, 2, 3L), (file.UserId, file.GroupId, file.LinkCount, file.Size));
        Assert.Equal("hello"u8.ToArray(), file.Xattrs["user.small"]);
        Assert.Equal(new byte[] { 0, 1, 0xFF, 0x22, 0x5C, 0x0A }, file.Xattrs["trusted.bin"]);
        Assert.Equal(file.Inode, viaDebugfs.Entries["/dir with space/hard ü"].Inode);
        Assert.Equal(acl, viaDebugfs.Entries["/dir with space"].Xattrs["system.posix_acl_access"]);
        Assert.Equal(acl, viaDebugfs.Entries["/dir with space"].Xattrs["system.posix_acl_default"]);
        Assert.Equal(900, viaDebugfs.Entries["/dir with space"].Xattrs["user.big"].Length);
        Assert.Equal(longTarget, viaDebugfs.Entries["/slow"].LinkTarget);
        Assert.Equal("file", viaDebugfs.Entries["/fast"].LinkTarget);
        Assert.Equal((259, 70000), (viaDebugfs.Entries["/blk"].DeviceMajor, viaDebugfs.Entries["/blk"].DeviceMinor));
        Assert.Equal((4, 5), (viaDebugfs.Entries["/chr"].DeviceMajor, viaDebugfs.Entries["/chr"].DeviceMinor));
        Assert.Equal((3L << 20) + 3, viaDebugfs.Entries["/sparse"].Size);
        Assert.True(viaDebugfs.Entries.ContainsKey("/lost+found"));
    }

    [Fact]
    public void ParseLs_NameWithSlashLikeCharacters_FieldsFromBothEnds()
    {
        var e = DebugfsTree.ParseLs("/12/100644/70000/5/a b ü/123/\n/13/040755/0/0/d//\n", "/").ToList();
        Assert.Equal((12L, 0x81A4, 70000u, 5u, "a b ü"), e[0]);
        Assert.Equal((13L, 0x41ED, 0u, 0u, "d"), e[1]);
    }

    [Fact]
    public void AclFromExt4_CompactEncoding_StandardEncoding()
    {
        byte[] compact = [1, 0, 0, 0, 1, 0, 7, 0, 2, 0, 7, 0, 0xE8, 3, 0, 0, 4, 0, 5, 0, 0x10, 0, 7, 0, 0x20, 0, 5, 0];
        byte[] standard = [2, 0, 0, 0, 1, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 7, 0, 0xE8, 3, 0, 0, 4, 0, 5, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            0x10, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 5, 0, 0xFF, 0xFF, 0xFF, 0xFF];
        Assert.Equal(standard, DebugfsTree.AclFromExt4(compact));
        Assert.Equal(standard, DebugfsTree.AclFromExt4(standard));
    }
}
