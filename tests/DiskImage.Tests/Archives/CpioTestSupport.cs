using System.Runtime.Versioning;
using System.Security.Cryptography;
using DiskImage.Archives.Cpio;
using DiskImage.Interop;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Archives;

/// <summary>Builds host trees and compares them (type, mode, content, link targets, hard link groups, device numbers).</summary>
[SupportedOSPlatform("linux")]
internal static class CpioTestSupport
{
    public static readonly InitramfsCompression[] WritableCompressions =
    [
        InitramfsCompression.None, InitramfsCompression.Gzip, InitramfsCompression.Zstd,
        InitramfsCompression.Bzip2, InitramfsCompression.Lzma, InitramfsCompression.Lz4,
    ];

    /// <summary>Creates a varied tree under <paramref name="root"/>; <paramref name="reverse"/> creates it in the opposite order (other inodes, other enumeration order).</summary>
    public static void MakeTree(string root, bool reverse = false, DateTime? mtime = null, bool specials = true)
    {
        var actions = new List<Action>
        {
            () => Directory.CreateDirectory(Path.Combine(root, "etc/conf.d")),
            () => Directory.CreateDirectory(Path.Combine(root, "usr/lib/deep/er")),
            () => Directory.CreateDirectory(Path.Combine(root, "empty")),
        };
        var rng = new Random(1234);
        for (int i = 0; i < 20; i++)
        {
            int n = i;
            byte[] data = new byte[n * 997 % 20000];
            rng.NextBytes(data);
            actions.Add(() => File.WriteAllBytes(Path.Combine(root, n % 2 == 0 ? "etc" : "usr/lib/deep/er", $"f{n:D2}.bin"), data));
        }

        actions.Add(() => File.WriteAllText(Path.Combine(root, "etc/conf.d/x.conf"), "key=value\n"));
        actions.Add(() => File.WriteAllBytes(Path.Combine(root, "empty.txt"), []));
        // Directories first; files in forward or reverse order (different inodes and enumeration order).
        IEnumerable<Action> files = actions.Skip(3);
        foreach (Action a in actions.Take(3).Concat(reverse ? files.Reverse() : files))
        {
            a();
        }

        File.WriteAllText(Path.Combine(root, "usr/lib/script.sh"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(root, "usr/lib/script.sh"), (UnixFileMode)0x1ED);
        File.SetUnixFileMode(Path.Combine(root, "etc/f00.bin"), (UnixFileMode)0x9A4); // setuid 4644
        File.CreateSymbolicLink(Path.Combine(root, "usr/lib/link-rel"), "../../etc/conf.d/x.conf");
        File.CreateSymbolicLink(Path.Combine(root, "abs-link"), "/etc/hostname");
        File.WriteAllText(Path.Combine(root, "hard-a"), "shared content\n");
        Assert.True(UnixNative.TryLink(Path.Combine(root, "hard-a"), Path.Combine(root, "usr/hard-b")));
        Assert.True(UnixNative.TryLink(Path.Combine(root, "hard-a"), Path.Combine(root, "etc/hard-c")));
        if (specials)
        {
            UnixNative.TryMknod(Path.Combine(root, "fifo"), 0x1000 | 0x1A4, 0, 0);
            if (Environment.IsPrivilegedProcess)
            {
                Assert.True(UnixNative.TryMknod(Path.Combine(root, "console"), 0x2000 | 0x180, 5, 1));
                Assert.True(UnixNative.TryMknod(Path.Combine(root, "sda"), 0x6000 | 0x1B0, 8, 0));
            }
        }

        if (mtime is { } t)
        {
            foreach (string p in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Append(root))
            {
                if (new FileInfo(p).LinkTarget is null)
                {
                    File.SetLastWriteTimeUtc(p, t);
                }
            }
        }
    }

    /// <summary>A comparable description of every path under <paramref name="root"/>.</summary>
    public static SortedDictionary<string, string> Snapshot(string root, bool withTimes = false)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var inodes = new Dictionary<ulong, string>();
        foreach (string p in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(root, p).Replace('\\', '/');
            Assert.True(UnixNative.TryLStat(p, out UnixStat st), p);
            string desc = $"type={st.Type:X} mode={st.Mode & 0xFFF:X}";
            switch (st.Type)
            {
                case 0x8000:
                    desc += " sha=" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)))[..16];
                    if (st.NLink > 1)
                    {
                        desc += " group=" + (inodes.TryGetValue(st.Inode, out string? first) ? first : inodes[st.Inode] = rel);
                    }

                    break;
                case 0xA000:
                    desc += " target=" + new FileInfo(p).LinkTarget;
                    break;
                case 0x2000 or 0x6000:
                    desc += $" rdev={st.RDevMajor},{st.RDevMinor}";
                    break;
            }

            if (withTimes && st.Type is not (0xA000 or 0x4000))
            {
                desc += " mtime=" + st.MTimeSeconds;
            }

            result[rel] = desc;
        }

        return result;
    }

    public static void AssertSameTree(string expectedRoot, string actualRoot, bool withTimes = false)
    {
        var expected = Snapshot(expectedRoot, withTimes);
        var actual = Snapshot(actualRoot, withTimes);
        foreach ((string path, string desc) in expected)
        {
            Assert.True(actual.TryGetValue(path, out string? got), $"missing {path}");
            Assert.True(desc == got, $"{path}: expected {desc}, got {got}");
        }

        Assert.Equal(expected.Keys, actual.Keys);
    }

    public static ToolResult Shell(string script, TimeSpan? timeout = null)
    {
        ToolResult r = Oracle.Run("sh", ["-c", script], timeout ?? TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
