using System.Runtime.Versioning;
using DiskImage.FileSystems.Ext4;
using DiskImage.IO;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The running kernel as a judge of written xattrs: the image is mounted read-only through a loop device and every
/// attribute is read back with llistxattr/lgetxattr (POSIX ACLs come back in the standard encoding). Needs root and
/// loop devices; skips otherwise (DISKIMAGE_KERNEL_MOUNT=0 also skips).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class Ext4XattrKernelMountTests
{
    private static readonly Lazy<string?> Unavailable = new(Probe);

    private static string? Probe()
    {
        if (Environment.GetEnvironmentVariable("DISKIMAGE_KERNEL_MOUNT") is "0" or "false")
        {
            return "DISKIMAGE_KERNEL_MOUNT=0";
        }

        if (!HostFiles.IsRoot || Oracle.Find("mount") is null || Oracle.Find("umount") is null || Oracle.Find("mke2fs") is null)
        {
            return "needs root, mount, umount and mke2fs";
        }

        using var temp = new TempDirectory();
        string image = temp.File("probe.img");
        if (Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", image, "4M"], TimeSpan.FromMinutes(1)).ExitCode != 0)
        {
            return "mke2fs failed";
        }

        string mnt = temp.File("mnt");
        Directory.CreateDirectory(mnt);
        ToolResult r = Oracle.Run("mount", ["-t", "ext4", "-o", "ro,loop", image, mnt], TimeSpan.FromMinutes(1));
        if (r.ExitCode != 0)
        {
            return "loop mount failed: " + (r.StandardError + r.StandardOutput).Trim();
        }

        Oracle.Run("umount", [mnt], TimeSpan.FromMinutes(1));
        return null;
    }

    [SkippableTheory]
    [Trait("Category", "KernelMount")]
    [InlineData("-t ext4 -b 1024")]
    [InlineData("-t ext4 -b 1024 -I 128")]
    [InlineData("-t ext4 -b 4096 -O ^metadata_csum")]
    [InlineData("-t ext4 -b 1024 -O inline_data")]
    public void SetXattr_KernelMountsReadOnly_ReadsEveryAttribute(string options)
    {
        if (Unavailable.Value is { } reason)
        {
            throw new SkipException("Kernel mount test skipped: " + reason);
        }

        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "k", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        var model = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal);
        byte[] big = [.. Enumerable.Range(0, 400).Select(i => (byte)(i * 13))];
        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true }))
        {
            void Set(string path, string name, byte[] value)
            {
                fs.SetXattr(path, name, value);
                if (!model.TryGetValue(path, out Dictionary<string, byte[]>? x))
                {
                    x = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                    model[path] = x;
                }

                x[name] = value;
            }

            Set("/a", "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
            Set("/a", "system.posix_acl_access", Ext4XattrAclTests.NamedAcl());
            Set("/a", "user.small", "s"u8.ToArray());
            Set("/a", "trusted.big", big);
            Set("/d", "system.posix_acl_default", Ext4XattrAclTests.NamedAcl());
            Set("/d", "system.posix_acl_access", Ext4XattrAclTests.MinimalAcl());

            // Identical sets on /b, /c and /d/e share one block.
            foreach (string p in new[] { "/b", "/c", "/d/e" })
            {
                Set(p, "user.shared", big);
                Set(p, "security.selinux", "system_u:object_r:bin_t:s0\0"u8.ToArray());
            }

            Set("/c", "user.shared", "changed"u8.ToArray());
            Assert.True(fs.RemoveXattr("/a", "user.small"));
            model["/a"].Remove("user.small");
        }

        Ext4XattrOracle.AssertClean(image);
        string mnt = temp.File("mnt");
        Directory.CreateDirectory(mnt);
        ToolResult m = Oracle.Run("mount", ["-t", "ext4", "-o", "ro,loop", image, mnt], TimeSpan.FromMinutes(1));
        Assert.True(m.ExitCode == 0, m.ToString());
        try
        {
            foreach ((string path, Dictionary<string, byte[]> expected) in model)
            {
                Dictionary<string, byte[]> seen = HostFiles.GetXattrs(mnt + path);
                Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), seen.Keys.Order(StringComparer.Ordinal));
                foreach ((string name, byte[] value) in expected)
                {
                    Assert.True(value.AsSpan().SequenceEqual(seen[name]), $"{path} {name} as the kernel reads it");
                }
            }
        }
        finally
        {
            Oracle.Run("umount", [mnt], TimeSpan.FromMinutes(1));
        }
    }

    /// <summary>
    /// The kernel writes xattrs (sharing identical blocks through its block cache), then we change, remove and delete;
    /// e2fsck and a second kernel mount judge.
    /// </summary>
    [SkippableTheory]
    [Trait("Category", "KernelMount")]
    [InlineData("-t ext4 -b 1024 -I 128")]
    [InlineData("-t ext4 -b 4096")]
    public void SetXattr_OnKernelWrittenSharedBlocks_KernelAndFsckAgree(string options)
    {
        if (Unavailable.Value is { } reason)
        {
            throw new SkipException("Kernel mount test skipped: " + reason);
        }

        using var temp = new TempDirectory();
        string image = Ext4XattrOracle.Mkfs(temp, "kw", 8192, [.. options.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        string mnt = temp.File("mnt");
        Directory.CreateDirectory(mnt);
        byte[] big = [.. Enumerable.Range(0, 700).Select(i => (byte)(i * 3))];
        string[] paths = ["/a", "/b", "/c", "/d/e"];
        ToolResult m = Oracle.Run("mount", ["-t", "ext4", "-o", "loop", image, mnt], TimeSpan.FromMinutes(1));
        Assert.True(m.ExitCode == 0, m.ToString());
        try
        {
            foreach (string p in paths)
            {
                HostFiles.SetXattr(mnt + p, "user.shared", big);
                HostFiles.SetXattr(mnt + p, "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
            }
        }
        finally
        {
            Oracle.Run("umount", [mnt], TimeSpan.FromMinutes(1));
        }

        Ext4XattrOracle.AssertClean(image);
        long shared = Ext4XattrOracle.FileAcl(image, "/a");
        Assert.NotEqual(0, shared);
        Assert.All(paths, p => Assert.Equal(shared, Ext4XattrOracle.FileAcl(image, p)));

        using (Ext4FileSystem fs = Ext4FileSystem.Open(FileBlockDevice.Open(image, writable: true), new Ext4OpenOptions { Writable = true }))
        {
            fs.SetXattr("/b", "user.shared", "mine"u8.ToArray());
            Assert.True(fs.RemoveXattr("/c", "user.shared"));
            fs.SetXattr("/d/e", "user.more", "m"u8.ToArray());
            fs.Delete("/a");
        }

        Ext4XattrOracle.AssertClean(image);
        var expected = new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal)
        {
            ["/b"] = new(StringComparer.Ordinal) { ["user.shared"] = "mine"u8.ToArray(), ["security.selinux"] = "system_u:object_r:etc_t:s0\0"u8.ToArray() },
            ["/c"] = new(StringComparer.Ordinal) { ["security.selinux"] = "system_u:object_r:etc_t:s0\0"u8.ToArray() },
            ["/d/e"] = new(StringComparer.Ordinal) { ["user.shared"] = big, ["user.more"] = "m"u8.ToArray(), ["security.selinux"] = "system_u:object_r:etc_t:s0\0"u8.ToArray() },
        };
        m = Oracle.Run("mount", ["-t", "ext4", "-o", "ro,loop", image, mnt], TimeSpan.FromMinutes(1));
        Assert.True(m.ExitCode == 0, m.ToString());
        try
        {
            Assert.False(File.Exists(mnt + "/a"));
            foreach ((string path, Dictionary<string, byte[]> x) in expected)
            {
                Dictionary<string, byte[]> seen = HostFiles.GetXattrs(mnt + path);
                Assert.Equal(x.Keys.Order(StringComparer.Ordinal), seen.Keys.Order(StringComparer.Ordinal));
                foreach ((string name, byte[] value) in x)
                {
                    Assert.True(value.AsSpan().SequenceEqual(seen[name]), $"{path} {name} as the kernel reads it");
                }
            }
        }
        finally
        {
            Oracle.Run("umount", [mnt], TimeSpan.FromMinutes(1));
        }
    }
}
