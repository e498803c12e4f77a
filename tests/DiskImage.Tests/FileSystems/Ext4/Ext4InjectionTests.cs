using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Injection into real images (issue acceptance 3). Images are built by e2fsprogs: <c>mkfs.ext4 -d</c> from the
/// debootstrap tree (1 KiB blocks, so that /etc spans several blocks, then <c>e2fsck -fyD</c> indexes it: a htree
/// directory; and 4 KiB blocks where /etc stays one linear block) and a directory of 50,000 empty files whose
/// htree <c>e2fsck -fyD</c> rebuilt. One file is written into each through the writable
/// <see cref="Ext4FileSystem"/>; then e2fsck -fn must be clean, debugfs must list the new file and every old
/// entry (still hash-indexed), and the kernel (loop mount and/or qemu boot) must read the new file back.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4InjectionTests(ITestOutputHelper output)
{
    internal const string InjectedName = "diskimage-injected.conf";

    internal static readonly byte[] InjectedContent = MakeContent();

    internal static readonly UnixTime InjectedTime = new(1_700_000_000, 123_456_789);

    [SkippableTheory]
    [InlineData(1024, true)]
    [InlineData(4096, false)]
    public void CopyIntoEtc_DebootstrapImage_E2fsckCleanAndDebugfsListsEveryEntry(int blockSize, bool htree)
    {
        using var tmp = new TempDirectory();
        string image = Injection.BuildDebootstrapImage(tmp, blockSize, htree);
        Injection.AssertInjects(image, "/etc", tmp, htree, output);
    }

    [SkippableFact]
    public void CopyInto50000EntryDirectory_IndexedByE2fsck_E2fsckCleanAndAll50001Listed()
    {
        using var tmp = new TempDirectory();
        string image = Injection.BuildLargeDirectoryImage(tmp, 50_000);
        Injection.AssertInjects(image, "/big", tmp, htree: true, output);
    }

    [SkippableFact]
    [Trait("Category", "KernelMount")]
    public void Injected_LoopMountedReadOnly_KernelReadsNewFileAndAllEntries()
    {
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string etcImage = Injection.BuildDebootstrapImage(tmp, 1024, htree: true);
        string bigImage = Injection.BuildLargeDirectoryImage(tmp, 50_000);
        Injection.Inject(etcImage, "/etc");
        Injection.Inject(bigImage, "/big");
        foreach ((string image, string dir, int count) in new[] { (etcImage, "/etc", -1), (bigImage, "/big", 50_001) })
        {
            Assert.Null(Injection.E2fsck(image));
            HashSet<string> names = Injection.DebugfsNames(image, dir);
            using Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, tmp.File("mnt-" + dir.Trim('/')));
            string host = m.MountPoint + dir;
            var listed = Directory.EnumerateFileSystemEntries(host).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
            Assert.True(listed.SetEquals(names!), $"{dir}: the kernel lists {listed.Count} names, debugfs {names.Count}");
            if (count > 0)
            {
                Assert.Equal(count, listed.Count);
            }

            Assert.Equal(InjectedContent, File.ReadAllBytes(Path.Combine(host, InjectedName)));
            output.WriteLine($"{dir}: kernel lists {listed.Count} entries and reads the injected file back");
        }
    }

    [SkippableFact]
    [Trait("Category", "KernelBoot")]
    public void Injected_BootedKernelMountsReadOnly_ReadsNewFileAndAllEntries()
    {
        using var tmp = new TempDirectory();
        string etcImage = Injection.BuildDebootstrapImage(tmp, 1024, htree: true);
        string bigImage = Injection.BuildLargeDirectoryImage(tmp, 50_000);
        Injection.Inject(etcImage, "/etc");
        Injection.Inject(bigImage, "/big");
        Assert.Null(Injection.E2fsck(etcImage));
        Assert.Null(Injection.E2fsck(bigImage));
        int etcCount = Injection.DebugfsNames(etcImage, "/etc").Count;
        string script =
            $"echo \"C|0|$(ls -A /mnt/0/etc | wc -l)\"\n" +
            $"echo \"C|1|$(ls -A /mnt/1/big | wc -l)\"\n" +
            $"sha256sum /mnt/0/etc/{InjectedName} /mnt/1/big/{InjectedName} | sed 's/^/S|/'\n" +
            $"stat -c 'T|%n|%a|%u|%g|%s|%Y' /mnt/0/etc/{InjectedName} /mnt/1/big/{InjectedName}\n" +
            "stat -c 'O|%n|%u|%g|%a' /mnt/0/etc/shadow /mnt/0/etc/passwd\n";
        string console = Ext4KernelMountQemu.Boot([etcImage, bigImage], script, tmp.Path, output.WriteLine);
        output.WriteLine(string.Join("\n", console.Split('\n').Where(l => l.Length > 1 && l[1] == '|')));
        string hash = Convert.ToHexStringLower(SHA256.HashData(InjectedContent));
        Assert.Contains($"C|0|{etcCount}", console, StringComparison.Ordinal);
        Assert.Contains("C|1|50001", console, StringComparison.Ordinal);
        Assert.Contains($"S|{hash}  /mnt/0/etc/{InjectedName}", console, StringComparison.Ordinal);
        Assert.Contains($"S|{hash}  /mnt/1/big/{InjectedName}", console, StringComparison.Ordinal);
        Assert.Contains($"T|/mnt/0/etc/{InjectedName}|640|0|42|{InjectedContent.Length}|{InjectedTime.Seconds}", console, StringComparison.Ordinal);
        Assert.DoesNotContain("EXT4-fs error", console, StringComparison.Ordinal);
    }

    private static byte[] MakeContent()
    {
        byte[] b = new byte[9000];
        new Random(4).NextBytes(b);
        return b;
    }
}

/// <summary>Builds the injection images with e2fsprogs and checks them with e2fsck and debugfs.</summary>
[SupportedOSPlatform("linux")]
internal static class Injection
{
    public static string BuildDebootstrapImage(TempDirectory tmp, int blockSize, bool htree)
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("mke2fs");
        string image = tmp.File($"debootstrap-{blockSize}.img");
        // 175 MiB tree: 512 MiB leaves room; the file is sparse.
        Mkfs(tree, image, 512 << 10, "-t", "ext4", "-T", "default", "-b", blockSize.ToString(CultureInfo.InvariantCulture));
        if (htree)
        {
            IndexDirectories(image);
        }

        Assert.Equal(htree, IsIndexed(image, "/etc"));
        return image;
    }

    /// <summary>
    /// An image whose /big holds <paramref name="count"/> empty files in an htree laid out by e2fsprogs.
    /// mke2fs -d links every name with a linear scan of the directory (minutes for 50,000 names), so the names are
    /// created through our writer on a mkfs.ext4 image, judged by e2fsck -fn, and then <c>e2fsck -fyD</c> rebuilds
    /// the directory and its index from scratch: the injection target is e2fsprogs' own htree.
    /// </summary>
    public static string BuildLargeDirectoryImage(TempDirectory tmp, int count)
    {
        Oracle.Require("mke2fs");
        string image = tmp.File("large.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-T", "default", "-N", (count + 1000).ToString(CultureInfo.InvariantCulture), image, "131072k"], TimeSpan.FromMinutes(2));
        Assert.True(mk.ExitCode == 0, mk.ToString());
        using (FileBlockDevice device = FileBlockDevice.Open(image, writable: true))
        using (Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
        {
            fs.CreateDirectory("/big");
            for (int i = 0; i < count; i++)
            {
                fs.OpenFile($"/big/entry-{i:D6}-of-a-large-directory", FileMode.CreateNew, FileAccess.Write).Dispose();
            }
        }

        if (E2fsck(image) is { } fsck)
        {
            Assert.Fail($"after creating {count} names in /big: {fsck}");
        }

        IndexDirectories(image);
        Assert.True(IsIndexed(image, "/big"), "e2fsck -fyD did not index /big");
        Assert.Equal(count, DebugfsNames(image, "/big").Count);
        return image;
    }

    /// <summary>Writes the injected file (mode 0640, owner 0:42, a fixed mtime) into <paramref name="dir"/>.</summary>
    public static void Inject(string image, string dir)
    {
        using FileBlockDevice device = FileBlockDevice.Open(image, writable: true);
        using Ext4FileSystem fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true });
        string path = dir + "/" + Ext4InjectionTests.InjectedName;
        using (Stream s = fs.OpenFile(path, FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(Ext4InjectionTests.InjectedContent);
        }

        fs.SetMode(path, (UnixFileMode)0x1A0);
        fs.SetOwner(path, 0, 42);
        fs.SetTimes(path, Ext4InjectionTests.InjectedTime, Ext4InjectionTests.InjectedTime);
        fs.Flush();
    }

    public static void AssertInjects(string image, string dir, TempDirectory tmp, bool htree, ITestOutputHelper output)
    {
        HashSet<string> before = DebugfsNames(image, dir);
        Inject(image, dir);
        if (E2fsck(image) is { } fsck)
        {
            Assert.Fail($"after injecting into {dir}: {fsck}");
        }

        HashSet<string> after = DebugfsNames(image, dir);
        var missing = before.Except(after).Take(10).ToList();
        var extra = after.Except(before).ToList();
        Assert.True(missing.Count == 0, $"{dir}: debugfs no longer lists {string.Join(", ", missing)}");
        Assert.Equal([Ext4InjectionTests.InjectedName], extra);
        Assert.Equal(htree, IsIndexed(image, dir));

        string path = dir + "/" + Ext4InjectionTests.InjectedName;
        RandomTreeSnapshot snap = DebugfsTree.Read(image, tmp.Path, exclude: p => p != dir && p != path && !"/".Equals(p) && !dir.StartsWith(p + "/", StringComparison.Ordinal));
        RandomTreeSnapshot.Entry e = snap.Entries[path];
        Assert.Equal((0x1A0, 0u, 42u, (long)Ext4InjectionTests.InjectedContent.Length, 1), (e.Mode, e.UserId, e.GroupId, e.Size, e.LinkCount));
        Assert.Equal(Ext4InjectionTests.InjectedTime, e.ModificationTime);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Ext4InjectionTests.InjectedContent)), e.ContentHash);
        output.WriteLine($"{dir}: {before.Count} entries before, {after.Count} after; e2fsck -fn clean; {(htree ? "hash-indexed" : "linear")}");
    }

    public static string? E2fsck(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fn", image], TimeSpan.FromMinutes(5));
        return r.ExitCode == 0 ? null : $"e2fsck -fn exited {r.ExitCode}:\n{r.StandardOutput}{r.StandardError}";
    }

    public static HashSet<string> DebugfsNames(string image, string dir)
    {
        string output = DebugfsTree.RunCommands(image, [$"ls -p {dir}"])[0];
        return DebugfsTree.ParseLs(output, dir).Where(x => x.Inode != 0 && x.Name is not ("." or "..")).Select(x => x.Name).ToHashSet(StringComparer.Ordinal);
    }

    public static bool IsIndexed(string image, string dir)
    {
        ToolResult r = Oracle.Run("debugfs", ["-R", $"htree_dump {dir}", image], TimeSpan.FromMinutes(2));
        return r.StandardOutput.Contains("Root node dump:", StringComparison.Ordinal);
    }

    private static void Mkfs(string source, string image, long sizeKiB, params string[] options)
    {
        var args = new List<string> { "-q", "-F" };
        args.AddRange(options);
        args.AddRange(["-d", source, image, sizeKiB.ToString(CultureInfo.InvariantCulture) + "k"]);
        ToolResult r = Oracle.Run("mke2fs", args, TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static void IndexDirectories(string image)
    {
        ToolResult r = Oracle.Run("e2fsck", ["-fyD", image], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode is 0 or 1, $"e2fsck -fyD: {r}");
    }
}
