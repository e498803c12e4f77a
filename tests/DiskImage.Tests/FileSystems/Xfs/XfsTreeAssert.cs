using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.FileSystems.Ext4;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Xfs;

/// <summary>Compares two <see cref="IFileSystem"/> trees entry by entry: type, mode, owner, ns times, target, device, size, links, xattrs, content.</summary>
public static class XfsTreeAssert
{
    /// <summary>Asserts the tree under <paramref name="dir"/> is the same in both.</summary>
    public static void SameTree(IFileSystem expected, IFileSystem actual, string dir)
    {
        var want = expected.EnumerateDirectory(dir).ToDictionary(e => e.Name, StringComparer.Ordinal);
        var got = actual.EnumerateDirectory(dir).ToDictionary(e => e.Name, StringComparer.Ordinal);
        Assert.Equal(want.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
        foreach ((string name, UnixFileInfo w) in want)
        {
            UnixFileInfo g = got[name];
            string ctx = w.Path + ": ";
            Assert.True(w.Type == g.Type, ctx + "type");
            Assert.True(w.Mode == g.Mode, ctx + "mode");
            Assert.True(w.UserId == g.UserId && w.GroupId == g.GroupId, ctx + "owner");
            Assert.True(w.ModificationTime == g.ModificationTime, ctx + $"mtime {g.ModificationTime} vs {w.ModificationTime}");
            Assert.True(w.AccessTime == g.AccessTime, ctx + "atime");
            Assert.True(w.LinkTarget == g.LinkTarget, ctx + "target");
            Assert.True(w.DeviceMajor == g.DeviceMajor && w.DeviceMinor == g.DeviceMinor, ctx + "rdev");
            if (w.Type != UnixFileType.Directory)
            {
                Assert.True(w.Size == g.Size, ctx + "size");
                Assert.True(w.LinkCount == g.LinkCount, ctx + "nlink");
            }

            IReadOnlyDictionary<string, byte[]> wx = expected.GetXattrs(w.Path);
            IReadOnlyDictionary<string, byte[]> gx = actual.GetXattrs(g.Path);
            Assert.Equal(wx.Keys.Order(StringComparer.Ordinal), gx.Keys.Order(StringComparer.Ordinal));
            foreach ((string k, byte[] v) in wx)
            {
                Assert.True(v.AsSpan().SequenceEqual(gx[k]), ctx + k);
            }

            if (w.Type == UnixFileType.RegularFile)
            {
                Assert.Equal(ConformanceTree.ReadAll(expected, w.Path), ConformanceTree.ReadAll(actual, g.Path));
            }
            else if (w.Type == UnixFileType.Directory)
            {
                SameTree(expected, actual, w.Path);
            }
        }
    }

    /// <summary>
    /// Asserts every entry's xattrs equal the host's, except the raw <c>trusted.SGI_ACL_*</c> copies XFS lists beside
    /// <c>system.posix_acl_*</c> (as the kernel does for root).
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static void XattrsMatchHost(string hostRoot, IFileSystem fs)
    {
        ToolResult r = Oracle.Run("find", ["-H", hostRoot, "-printf", "%P\n"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, r.ExitCode);
        foreach (string rel in r.StandardOutput.Split('\n'))
        {
            string host = rel.Length == 0 ? hostRoot : Path.Combine(hostRoot, rel);
            string path = "/" + rel;
            Dictionary<string, byte[]> hx = HostFiles.GetXattrs(host);
            var ax = fs.GetXattrs(path).Where(kv => !kv.Key.StartsWith("trusted.SGI_ACL_", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.True(hx.Count == ax.Count, $"{path}: xattrs [{string.Join(",", ax.Keys)}], expected [{string.Join(",", hx.Keys)}]");
            foreach ((string name, byte[] value) in hx)
            {
                Assert.True(ax.TryGetValue(name, out byte[]? v) && v.AsSpan().SequenceEqual(value), $"{path}: xattr {name} differs");
            }
        }
    }
}
