using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using DiskImage.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>Images, debugfs and e2fsck helpers for the xattr tests.</summary>
internal static class Ext4XattrOracle
{
    /// <summary>Builds an image with mke2fs -d from a small tree (files /a /b /c /d/e, directory /d) and returns its path.</summary>
    public static string Mkfs(TempDirectory temp, string name, long sizeKiB, params string[] options)
    {
        string src = temp.File(name + "-src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        foreach (string f in new[] { "a", "b", "c", Path.Combine("d", "e") })
        {
            File.WriteAllText(Path.Combine(src, f), "content of " + f);
        }

        string image = temp.File(name + ".img");
        Ext4TestImages.Build(src, image, sizeKiB, options);
        return image;
    }

    /// <summary>Runs debugfs commands (from a command file) on an image, writable when <paramref name="write"/>.</summary>
    public static ToolResult Debugfs(string image, bool write, params string[] commands)
    {
        string cmdFile = image + ".cmds";
        File.WriteAllLines(cmdFile, commands);
        var args = new List<string>();
        if (write)
        {
            args.Add("-w");
        }

        args.AddRange(["-f", cmdFile, image]);
        ToolResult r = Oracle.Run("debugfs", args, TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>Asserts that <c>e2fsck -fn</c> finds nothing to fix.</summary>
    public static void AssertClean(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, "e2fsck -fn: " + r);
    }

    /// <summary>The <c>File ACL</c> (xattr block) of a path as debugfs stat shows it.</summary>
    public static long FileAcl(string image, string path)
    {
        string s = Debugfs(image, false, "stat " + path).StandardOutput;
        int at = s.IndexOf("File ACL: ", StringComparison.Ordinal);
        Assert.True(at >= 0, s);
        return long.Parse(s[(at + 10)..].Split(' ', '\n')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>A value as debugfs reads it (<c>ea_get -f</c>; <paramref name="raw"/> skips the POSIX ACL translation); null when absent.</summary>
    public static byte[]? EaGet(string image, string path, string name, bool raw = false)
    {
        string outFile = image + ".value";
        File.Delete(outFile);
        ToolResult r = Oracle.Run("debugfs", ["-R", $"ea_get {(raw ? "-r " : string.Empty)}-f {outFile} {path} {name}", image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.Exists(outFile) && !r.StandardError.Contains("ea_get:", StringComparison.Ordinal) ? File.ReadAllBytes(outFile) : null;
    }

    /// <summary>The attribute names debugfs lists for a path (<c>ea_list</c>), sorted.</summary>
    public static List<string> EaNames(string image, string path)
    {
        string s = Debugfs(image, false, "ea_list " + path).StandardOutput;
        var names = new List<string>();
        foreach (string line in s.Split('\n'))
        {
            // "Extended attributes:" then "  user.x (3) = ..." lines.
            string t = line.Trim();
            int paren = t.IndexOf(" (", StringComparison.Ordinal);
            if (paren > 0 && (t.StartsWith("user.", StringComparison.Ordinal) || t.StartsWith("trusted.", StringComparison.Ordinal) ||
                t.StartsWith("security.", StringComparison.Ordinal) || t.StartsWith("system.", StringComparison.Ordinal)))
            {
                names.Add(t[..paren]);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public static int BlockSize(string image)
    {
        string s = Debugfs(image, false, "stats").StandardOutput;
        int b = s.IndexOf("Block size:", StringComparison.Ordinal);
        return int.Parse(s[(b + 11)..].Split('\n')[0].Trim(), CultureInfo.InvariantCulture);
    }

    public static uint ChecksumSeed(Ext4FileSystem fs) => fs.XattrChecksumSeed;
}

/// <summary>The xattr layout primitives: names, hashes, block order and checksums, judged against blocks libext2fs wrote.</summary>
public sealed class Ext4XattrLayoutTests
{
    [Theory]
    [InlineData("user.comment", 1, "comment")]
    [InlineData("system.posix_acl_access", 2, "")]
    [InlineData("system.posix_acl_default", 3, "")]
    [InlineData("trusted.overlay.opaque", 4, "overlay.opaque")]
    [InlineData("security.selinux", 6, "selinux")]
    [InlineData("system.foo", 7, "foo")]
    [InlineData("system.richacl", 8, "")]
    public void ParseName_KnownPrefix_MapsToIndex(string name, int index, string suffix)
    {
        (byte i, byte[] s) = Ext4XattrLayout.ParseName(name);
        Assert.Equal(index, i);
        Assert.Equal(suffix, Encoding.UTF8.GetString(s));
    }

    [Theory]
    [InlineData("comment")]
    [InlineData("user.")]
    [InlineData("other.x")]
    [InlineData("system.data")]
    public void ParseName_Invalid_ThrowsArgument(string name) =>
        Assert.Throws<ArgumentException>(() => Ext4XattrLayout.ParseName(name));

    [Fact]
    public void ParseName_SuffixOver255Bytes_ThrowsArgument()
    {
        Assert.Equal(255, Ext4XattrLayout.ParseName("user." + new string('n', 255)).Name.Length);
        Assert.Throws<ArgumentException>(() => Ext4XattrLayout.ParseName("user." + new string('n', 256)));
        Assert.Throws<ArgumentException>(() => Ext4XattrLayout.ParseName("user." + new string('é', 128)));
    }

    [Fact]
    public void EntryHash_PartialWord_PadsWithZeros()
    {
        uint h1 = Ext4XattrLayout.EntryHash("n"u8, [1, 2, 3]);
        uint h2 = Ext4XattrLayout.EntryHash("n"u8, [1, 2, 3, 0]);
        Assert.Equal(h2, h1);
        Assert.NotEqual(Ext4XattrLayout.EntryHash("n"u8, [1, 2, 3, 4]), h1);
    }

    [Fact]
    public void InodeCapacity_Sizes_LeaveRoomAfterExtraIsizeAndMagic()
    {
        Assert.Equal(0, Ext4XattrLayout.InodeCapacity(128, 0));
        Assert.Equal(256 - 128 - 32 - 4, Ext4XattrLayout.InodeCapacity(256, 32));
        Assert.Equal(0, Ext4XattrLayout.InodeCapacity(256, 30));
        Assert.Equal(0, Ext4XattrLayout.InodeCapacity(256, 0));
        Assert.Equal(0, Ext4XattrLayout.InodeCapacity(160, 28));
    }

    /// <summary>
    /// debugfs (libext2fs) writes an xattr block: our entry hashes, block hash, order and checksum must equal its.
    /// Names and values cover partial words, bytes above 0x7F and every index.
    /// </summary>
    [SkippableTheory]
    [InlineData("-t ext4 -I 128 -O metadata_csum")]
    [InlineData("-t ext4 -I 128 -O ^metadata_csum")]
    public void EntryHash_BlockWrittenByDebugfs_MatchesOnDiskHashes(string options)
    {
        Oracle.Require("debugfs");
        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "h", 4096, [.. options.Split(' ')]);
        string valueFile = temp.File("v");
        var rng = new Random(7);
        byte[] binary = new byte[37];
        rng.NextBytes(binary);
        File.WriteAllBytes(valueFile, binary);
        Ext4XattrOracle.Debugfs(image, true,
            "ea_set /a user.x 1",
            "ea_set /a user.yy 12345",
            "ea_set /a user.zzzzzzz abcdefgh",
            "ea_set /a trusted.t value-of-trusted",
            "ea_set /a security.selinux system_u:object_r:etc_t:s0",
            $"ea_set -f {valueFile} /a user.binary",
            "ea_set /a user.\u00e9t\u00e9 high-bit-name");
        Ext4XattrOracle.AssertClean(image);
        long acl = Ext4XattrOracle.FileAcl(image, "/a");
        Assert.NotEqual(0, acl);
        int bs = Ext4XattrOracle.BlockSize(image);
        byte[] img = File.ReadAllBytes(image);
        byte[] block = img.AsSpan(checked((int)(acl * bs)), bs).ToArray();

        var entries = new List<Ext4XattrEntry>();
        uint fold = 0;
        for (int off = 32; BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(off)) != 0; off += Ext4XattrLayout.EntrySize(block[off]))
        {
            int nameLen = block[off];
            byte[] name = block.AsSpan(off + 16, nameLen).ToArray();
            int valueOffs = BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(off + 2));
            int valueSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(off + 8));
            uint hash = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(off + 12));
            byte[] value = block.AsSpan(valueOffs, valueSize).ToArray();
            Assert.Equal(hash, Ext4XattrLayout.EntryHash(name, value));
            fold = (fold << 16) ^ (fold >> 16) ^ hash;
            entries.Add(new Ext4XattrEntry(block[off + 1], name, value));
        }

        Assert.Equal(7, entries.Count);

        // libext2fs leaves h_hash 0 (allowed); the kernel stores the fold of the entry hashes, as we do.
        Assert.Contains(BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(12)), new[] { 0u, fold });

        // Our block for the same entries: same order, same value placement, byte for byte (but h_hash and h_checksum).
        var sorted = new List<Ext4XattrEntry>(entries);
        sorted.Sort(Ext4XattrLayout.CompareBlockOrder);
        Assert.Equal(entries.Select(e => (e.Index, Encoding.UTF8.GetString(e.Name))), sorted.Select(e => (e.Index, Encoding.UTF8.GetString(e.Name))));
        byte[] ours = new byte[bs];
        Ext4XattrLayout.WriteBlock(ours, sorted, BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(4)));
        Assert.Equal(fold, BinaryPrimitives.ReadUInt32LittleEndian(ours.AsSpan(12)));
        Assert.Equal(block.AsSpan(0, 12).ToArray(), ours.AsSpan(0, 12).ToArray());
        Assert.Equal(block.AsSpan(20).ToArray(), ours.AsSpan(20).ToArray());

        if (options.Contains("^metadata_csum", StringComparison.Ordinal))
        {
            return;
        }

        using Ext4FileSystem fs = Ext4TestImages.Open(img);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(16)), Ext4XattrLayout.BlockChecksum(block, acl, Ext4XattrOracle.ChecksumSeed(fs)));
    }
}
