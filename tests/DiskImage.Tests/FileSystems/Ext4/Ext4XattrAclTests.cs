using System.Buffers.Binary;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>POSIX ACLs: the standard xattr encoding (version 2) to ext4's compact on-disk encoding (version 1) and back.</summary>
public sealed class Ext4XattrAclTests
{
    private const ushort UserObj = 0x01, User = 0x02, GroupObj = 0x04, Group = 0x08, Mask = 0x10, Other = 0x20;

    /// <summary>Builds a version-2 ACL xattr value from (tag, perm, id) triples.</summary>
    internal static byte[] Acl(params (ushort Tag, ushort Perm, uint Id)[] entries)
    {
        byte[] v = new byte[4 + (8 * entries.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(v, 2);
        for (int i = 0; i < entries.Length; i++)
        {
            Span<byte> e = v.AsSpan(4 + (8 * i));
            BinaryPrimitives.WriteUInt16LittleEndian(e, entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(e[2..], entries[i].Perm);
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], entries[i].Id);
        }

        return v;
    }

    internal static byte[] MinimalAcl() => Acl((UserObj, 6, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue));

    internal static byte[] NamedAcl() => Acl(
        (UserObj, 7, uint.MaxValue), (User, 6, 1000), (User, 4, 1001),
        (GroupObj, 5, uint.MaxValue), (Group, 7, 50), (Mask, 7, uint.MaxValue), (Other, 0, uint.MaxValue));

    [Fact]
    public void ToDisk_NamedEntries_UsesShortAndLongEntries()
    {
        byte[] disk = Ext4PosixAcl.ToDisk(NamedAcl());

        // Header + 4 short entries (owner, group, mask, other) + 3 long ones (two users, one group).
        Assert.Equal(4 + (4 * 4) + (3 * 8), disk.Length);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(disk));
        Assert.Equal(NamedAcl(), Ext4PosixAcl.ToXattr(disk, 12));
        Assert.Equal(MinimalAcl(), Ext4PosixAcl.ToXattr(Ext4PosixAcl.ToDisk(MinimalAcl()), 12));
        Assert.Equal(4 + (3 * 4), Ext4PosixAcl.ToDisk(MinimalAcl()).Length);
    }

    public static TheoryData<string, byte[]> Malformed() => new()
    {
        { "empty", [] },
        { "header only", Acl() },
        { "version 1", [.. Ext4PosixAcl.ToDisk(MinimalAcl())] },
        { "length not 4+8n", [.. MinimalAcl(), 0] },
        { "unknown tag", Acl((UserObj, 6, uint.MaxValue), (0x40, 4, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "perm over rwx", Acl((UserObj, 8, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "no owner", Acl((GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "no other", Acl((UserObj, 6, uint.MaxValue), (GroupObj, 4, uint.MaxValue)) },
        { "named user without mask", Acl((UserObj, 6, uint.MaxValue), (User, 4, 5), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "group before user", Acl((UserObj, 6, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (User, 4, 5), (Mask, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "owner twice", Acl((UserObj, 6, uint.MaxValue), (UserObj, 6, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "entry after other", Acl((UserObj, 6, uint.MaxValue), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
        { "owner with an id", Acl((UserObj, 6, 0), (GroupObj, 4, uint.MaxValue), (Other, 4, uint.MaxValue)) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void ToDisk_Malformed_ThrowsArgument(string what, byte[] value)
    {
        var ex = Assert.Throws<ArgumentException>(() => Ext4PosixAcl.ToDisk(value));
        Assert.False(string.IsNullOrEmpty(ex.Message), what);
    }

    /// <summary>libext2fs converts a version-2 ACL to the on-disk form itself: ours must be byte-identical.</summary>
    [SkippableFact]
    public void ToDisk_SameAclAsDebugfs_ByteIdentical()
    {
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "acl", 4096, "-t", "ext4");
        File.WriteAllBytes(temp.File("named"), NamedAcl());
        File.WriteAllBytes(temp.File("minimal"), MinimalAcl());
        Ext4XattrOracle.Debugfs(image, true,
            $"ea_set -f {temp.File("named")} /a system.posix_acl_access",
            $"ea_set -f {temp.File("minimal")} /d system.posix_acl_default");
        Ext4XattrOracle.AssertClean(image);
        Assert.Equal(Ext4PosixAcl.ToDisk(NamedAcl()), Ext4XattrOracle.EaGet(image, "/a", "system.posix_acl_access", raw: true));
        Assert.Equal(Ext4PosixAcl.ToDisk(MinimalAcl()), Ext4XattrOracle.EaGet(image, "/d", "system.posix_acl_default", raw: true));
    }
}
