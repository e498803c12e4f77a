using System.Buffers.Binary;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// File systems with the <c>encrypt</c> or <c>casefold</c> feature (mkfs.ext4 of e2fsprogs 1.47): unencrypted,
/// case-sensitive directories read and write as usual; a directory flagged <c>ENCRYPT_FL</c> (0x800) or
/// <c>CASEFOLD_FL</c> (0x40000000) is refused by path on listing, lookup and changes inside it, and an encrypted
/// regular file on reading its content. Directories are flagged by debugfs <c>set_inode_field</c> (this kernel has
/// no casefold support for <c>chattr +F</c>), or encrypted by the kernel with <c>e4crypt</c> (category
/// KernelMount). Judged by <c>e2fsck -fn</c> and <c>debugfs</c>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4EncryptCasefoldTests
{
    private static readonly Ext4OpenOptions Writable = new() { Writable = true };

    [SkippableTheory]
    [InlineData("casefold", Ext4Inode.CaseFoldFlag, "case-insensitive")]
    [InlineData("encrypt", Ext4Inode.EncryptFlag, "encrypted")]
    public void FlaggedDirectory_ListingAndLookupInside_RefusedNamingThePath(string feature, uint flag, string word)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, feature);
        SetFlags(image, "/special", flag);
        using FileBlockDevice device = FileBlockDevice.Open(image);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device);

        // The rest of the file system reads as usual.
        Assert.Equal(DebugfsNames(image, "/plain"), fs.EnumerateDirectory("/plain").Select(e => e.Path[7..]).Order(StringComparer.Ordinal));
        using (Stream s = fs.OpenFile("/plain/file", FileMode.Open, FileAccess.Read))
        {
            Assert.Equal("plain text"u8.ToArray(), ReadAll(s));
        }

        Assert.Equal(UnixFileType.Directory, fs.GetEntry("/special").Type);
        NotSupportedException list = Assert.Throws<NotSupportedException>(() => fs.EnumerateDirectory("/special").ToList());
        Assert.Contains("'/special'", list.Message, StringComparison.Ordinal);
        Assert.Contains(word, list.Message, StringComparison.Ordinal);
        NotSupportedException lookup = Assert.Throws<NotSupportedException>(() => fs.GetEntry("/special/inner"));
        Assert.Contains("'/special'", lookup.Message, StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => fs.OpenFile("/special/inner", FileMode.Open, FileAccess.Read));
    }

    [SkippableTheory]
    [InlineData("casefold", Ext4Inode.CaseFoldFlag)]
    [InlineData("encrypt", Ext4Inode.EncryptFlag)]
    public void Writable_ChangesElsewhere_E2fsckClean_ChangesInsideFlaggedDirectoryRefused(string feature, uint flag)
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, feature);
        SetFlags(image, "/special", flag);
        if (flag == Ext4Inode.CaseFoldFlag)
        {
            // A casefolded directory is valid as it is; an encrypted one crafted by debugfs lacks its encryption
            // context, which e2fsck reports: only the casefold image is checked before.
            AssertFsckClean(image, "before");
        }

        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, Writable))
        {
            Assert.False(fs.IsReadOnly);
            using (Stream s = fs.OpenFile("/plain/new", FileMode.CreateNew, FileAccess.Write))
            {
                s.Write("new"u8);
            }

            fs.CreateDirectory("/plain/sub");
            fs.Rename("/plain/file", "/plain/sub/moved");
            fs.SetXattr("/plain", "user.k", [1, 2]);
            Assert.Contains("'/special'", Assert.Throws<NotSupportedException>(() => fs.CreateFifo("/special/fifo")).Message, StringComparison.Ordinal);
            Assert.Contains("'/special'", Assert.Throws<NotSupportedException>(() => fs.Delete("/special/inner")).Message, StringComparison.Ordinal);
            Assert.Contains("'/special'", Assert.Throws<NotSupportedException>(() => fs.Rename("/plain/new", "/special/new")).Message, StringComparison.Ordinal);
            Assert.Throws<NotSupportedException>(() => fs.Delete("/special"));
        }

        if (flag == Ext4Inode.CaseFoldFlag)
        {
            AssertFsckClean(image, "after writes elsewhere");
        }

        Assert.Equal(["inner", "new", "sub"], DebugfsNames(image, "/plain"));
        Assert.Equal(["moved"], DebugfsNames(image, "/plain/sub"));
        Assert.Equal(["inner"], DebugfsNames(image, "/special"));
    }

    [SkippableFact]
    public void EncryptedRegularFile_OpenForReadOrWrite_RefusedNamingThePath()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "encrypt");
        SetFlags(image, "/plain/file", Ext4Inode.EncryptFlag);
        using (FileBlockDevice device = FileBlockDevice.Open(image))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device))
        {
            Assert.Equal(10, fs.GetEntry("/plain/file").Size);
            NotSupportedException e = Assert.Throws<NotSupportedException>(() => fs.OpenFile("/plain/file", FileMode.Open, FileAccess.Read));
            Assert.Contains("'/plain/file'", e.Message, StringComparison.Ordinal);
            Assert.Contains("encrypted", e.Message, StringComparison.Ordinal);
        }

        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, Writable))
        {
            Assert.Throws<NotSupportedException>(() => fs.OpenFile("/plain/file", FileMode.Open, FileAccess.ReadWrite));
            Assert.Throws<NotSupportedException>(() => fs.OpenFile("/plain/file", FileMode.Truncate, FileAccess.Write));
            Assert.Equal(10, fs.GetEntry("/plain/file").Size);
        }
    }

    [SkippableFact]
    public void Cli_CasefoldImage_CopyInElsewhereWorks_CasefoldedDirectoryRefusedByName()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "casefold");
        SetFlags(image, "/special", Ext4Inode.CaseFoldFlag);
        string add = temp.File("added");
        File.WriteAllText(add, "added");

        CliResult ok = CliHarness.Run("copy-in", image, add, "/plain");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        CliResult refused = CliHarness.Run("copy-in", image, add, "/special");
        Assert.True(refused.ExitCode != 0, refused.ToString());
        Assert.Contains("/special", refused.StandardError, StringComparison.Ordinal);
        CliResult ls = CliHarness.Run("ls", image, "/special");
        Assert.True(ls.ExitCode != 0, ls.ToString());
        Assert.Contains("/special", ls.StandardError, StringComparison.Ordinal);
        Assert.Contains("added", CliHarness.Run("ls", image, "/plain").StandardOutput, StringComparison.Ordinal);

        AssertFsckClean(image, "after copy-in");
        Assert.Equal(["added", "file", "inner"], DebugfsNames(image, "/plain"));
        Assert.Equal(["inner"], DebugfsNames(image, "/special"));
    }

    [SkippableFact]
    public void Open_CasefoldWithUnknownEncoding_ThrowsNotSupported()
    {
        using var temp = new TempDirectory();
        string image = MakeImage(temp, "casefold");
        byte[] bytes = File.ReadAllBytes(image);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(1024 + 0x27C)));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1024 + 0x27C), 7);
        NotSupportedException e = Assert.Throws<NotSupportedException>(() => Ext4TestImages.Open(bytes, new Ext4OpenOptions { VerifyChecksums = false }));
        Assert.Contains("encoding", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The kernel encrypts a directory (e4crypt, v1 policy): its names are ciphertext on disk.</summary>
    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void KernelEncryptedDirectory_RefusedByPath_RestReadsAndWritesAndE2fsckClean()
    {
        Ext4KernelMount.Require();
        if (Oracle.Find("e4crypt") is null)
        {
            throw new SkipException("e4crypt (e2fsprogs) is not installed");
        }

        using var temp = new TempDirectory();
        string image = MakeImage(temp, "encrypt");
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, temp.File("mnt"), options: "loop"))
        {
            string dir = Path.Combine(m.MountPoint, "vault");
            Directory.CreateDirectory(dir);
            ToolResult add = Oracle.Run("sh", ["-c", "printf 'correct horse' | e4crypt add_key -S 0x0123456789abcdef0123456789abcdef \"$0\"", dir], TimeSpan.FromMinutes(1));
            if (add.ExitCode != 0)
            {
                throw new SkipException("e4crypt add_key failed here (no keyring?): " + add);
            }

            File.WriteAllText(Path.Combine(dir, "secret-file-name"), "secret");
            Directory.CreateDirectory(Path.Combine(dir, "secret-subdir"));
        }

        AssertFsckClean(image, "as the kernel left it");
        Assert.Contains("Flags: 0x80800", Debugfs(image, "stat /vault"), StringComparison.Ordinal);
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, Writable))
        {
            Assert.Contains("'/vault'", Assert.Throws<NotSupportedException>(() => fs.EnumerateDirectory("/vault").ToList()).Message, StringComparison.Ordinal);
            Assert.Contains("'/vault'", Assert.Throws<NotSupportedException>(() => fs.CreateDirectory("/vault/x")).Message, StringComparison.Ordinal);
            Assert.Equal(["file", "inner"], fs.EnumerateDirectory("/plain").Select(e => e.Path[7..]).Order(StringComparer.Ordinal));
            fs.CreateDirectory("/plain/made-here");
            fs.Delete("/plain/file");
        }

        AssertFsckClean(image, "after writes elsewhere");
        Assert.Equal(["inner", "made-here"], DebugfsNames(image, "/plain"));
    }

    private static string MakeImage(TempDirectory temp, string feature)
    {
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        string src = temp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "plain", "inner"));
        Directory.CreateDirectory(Path.Combine(src, "special", "inner"));
        File.WriteAllText(Path.Combine(src, "plain", "file"), "plain text");
        string image = temp.File("fs.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-O", feature, "-d", src, image, "8M"], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        return image;
    }

    private static void SetFlags(string image, string path, uint flag)
    {
        string stat = Debugfs(image, "stat " + path);
        uint flags = Convert.ToUInt32(stat.Split("Flags: 0x", 2)[1].Split(['\n', ' '], 2)[0], 16);
        ToolResult r = Oracle.Run("debugfs", ["-w", "-R", $"set_inode_field {path} flags 0x{flags | flag:x}", image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"Flags: 0x{flags | flag:x}", Debugfs(image, "stat " + path), StringComparison.Ordinal);
    }

    private static string Debugfs(string image, string command)
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", command, image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StandardOutput;
    }

    private static List<string> DebugfsNames(string image, string path) =>
        DebugfsTree.ParseLs(Debugfs(image, "ls -p " + path), path)
            .Where(e => e.Name is not "." and not ".." && e.Inode != 0)
            .Select(e => e.Name)
            .Order(StringComparer.Ordinal)
            .ToList();

    private static void AssertFsckClean(string image, string context)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, $"e2fsck -fn exited {r.ExitCode} {context}:\n{r.StandardOutput}{r.StandardError}");
    }

    private static byte[] ReadAll(Stream s)
    {
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
