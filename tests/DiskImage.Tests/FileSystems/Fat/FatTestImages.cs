using System.Globalization;
using System.Security.Cryptography;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Fat;
using DiskImage.IO;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Fat;

/// <summary>
/// FAT images made and judged by the real tools (dosfstools 4.2 <c>mkfs.fat</c> and <c>fsck.fat</c>, mtools
/// 4.0.32 <c>mcopy</c>/<c>mdir</c>), and tree listings to compare them with what <see cref="FatFileSystem"/> reads.
/// mtools runs with <c>MTOOLS_SKIP_CHECK=1</c> and <c>TZ=UTC</c> (FAT times have no zone).
/// </summary>
public static class FatTestImages
{
    /// <summary>Creates an image of <paramref name="mebibytes"/> MiB formatted by <c>mkfs.fat -F bits</c>.</summary>
    public static void MkfsFat(string image, int mebibytes, int bits, params string[] options)
    {
        Oracle.Require("mkfs.fat");
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength((long)mebibytes << 20);
        }

        ToolResult r = Oracle.Run("mkfs.fat", ["-F", bits.ToString(CultureInfo.InvariantCulture), "-i", "1234ABCD", .. options, image], TimeSpan.FromMinutes(1));
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary>Runs an mtools command on an image (<c>-i image</c> is added after the tool's own options).</summary>
    public static ToolResult Mtools(string tool, params string[] arguments)
    {
        Oracle.Require(tool);
        return Oracle.Run("env", ["MTOOLS_SKIP_CHECK=1", "TZ=UTC", tool, .. arguments], TimeSpan.FromMinutes(2));
    }

    /// <summary>Copies the contents of host directory <paramref name="source"/> into the image root with <c>mcopy -s -m</c>.</summary>
    public static void McopyIn(string image, string source)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(source))
        {
            ToolResult r = Mtools("mcopy", "-s", "-m", "-i", image, entry, "::/");
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    /// <summary>Extracts the whole image into <paramref name="target"/> with <c>mcopy -s -n -m</c>.</summary>
    public static void McopyOut(string image, string target)
    {
        Directory.CreateDirectory(target);
        ToolResult list = Mtools("mdir", "-b", "-i", image, "::/");
        if (list.StandardOutput.Trim().Length == 0)
        {
            return; // an empty root: mcopy '::/*' would fail
        }

        ToolResult r = Mtools("mcopy", "-s", "-n", "-m", "-i", image, "::/*", target + "/");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary>Runs <c>fsck.fat -n</c> and asserts that it proposes no change: exit 0 and only the banner and the summary line.</summary>
    public static string FsckClean(string image)
    {
        ToolResult r = Oracle.Run("fsck.fat", ["-n", image], TimeSpan.FromMinutes(2));
        string[] lines = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool clean = r.ExitCode == 0 && r.StandardError.Trim().Length == 0 && lines.Length == 2
            && lines[0].StartsWith("fsck.fat", StringComparison.Ordinal) && lines[1].Contains(" files, ", StringComparison.Ordinal);
        Assert.True(clean, "fsck.fat -n found problems:\n" + r);
        return lines[1];
    }

    /// <summary>The tree under a host directory: relative path → "dir" or the content's SHA-256.</summary>
    public static SortedDictionary<string, string> HostTree(string root)
    {
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string p in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
        {
            string rel = "/" + Path.GetRelativePath(root, p).Replace('\\', '/');
            tree[rel] = Directory.Exists(p) ? "dir" : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)));
        }

        return tree;
    }

    /// <summary>The tree of a file system: path → "dir" or the content's SHA-256.</summary>
    public static SortedDictionary<string, string> Tree(IFileSystem fs)
    {
        var tree = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push("/");
        while (stack.Count > 0)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(stack.Pop()))
            {
                if (e.IsDirectory)
                {
                    tree[e.Path] = "dir";
                    stack.Push(e.Path);
                }
                else
                {
                    using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                    Assert.Equal(e.Size, s.Length);
                    tree[e.Path] = Convert.ToHexString(SHA256.HashData(s));
                }
            }
        }

        return tree;
    }

    /// <summary>Asserts two trees are equal, listing the differences.</summary>
    public static void AssertSameTree(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual, string context)
    {
        var diffs = new List<string>();
        foreach (KeyValuePair<string, string> kv in expected)
        {
            if (!actual.TryGetValue(kv.Key, out string? v))
            {
                diffs.Add($"missing {kv.Key}");
            }
            else if (v != kv.Value)
            {
                diffs.Add($"differs {kv.Key}: {kv.Value[..Math.Min(8, kv.Value.Length)]} vs {v[..Math.Min(8, v.Length)]}");
            }
        }

        foreach (string k in actual.Keys)
        {
            if (!expected.ContainsKey(k))
            {
                diffs.Add($"extra {k}");
            }
        }

        Assert.True(diffs.Count == 0, context + "\n" + string.Join("\n", diffs.Take(40)));
    }

    /// <summary>Opens an image file with <see cref="FatFileSystem"/>.</summary>
    public static FatFileSystem Open(string image, bool writable = false) =>
        FatFileSystem.Open(FileBlockDevice.Open(image, writable), new FatOpenOptions { Writable = writable });

    /// <summary>
    /// Writes the tree the interop tests use into a host directory: long names, nested directories, empty
    /// files, names that are 8.3 in lower, upper or mixed case, names whose aliases collide, and files whose
    /// sizes sit on cluster boundaries (0, 1, c − 1, c, c + 1, 3c for cluster size c).
    /// </summary>
    public static void WriteSampleTree(string root, int clusterSize, int seed)
    {
        var rng = new Random(seed);
        byte[] Data(int n)
        {
            byte[] b = new byte[n];
            rng.NextBytes(b);
            return b;
        }

        Directory.CreateDirectory(Path.Combine(root, "EFI", "BOOT"));
        Directory.CreateDirectory(Path.Combine(root, "A long directory name", "nested deeper", "and deeper still"));
        Directory.CreateDirectory(Path.Combine(root, "empty dir"));
        File.WriteAllBytes(Path.Combine(root, "EFI", "BOOT", "BOOTX64.EFI"), Data(3 * clusterSize));
        File.WriteAllText(Path.Combine(root, "EFI", "BOOT", "grub.cfg"), "set timeout=5\nmenuentry 'Linux' { linux /vmlinuz root=LABEL=root }\n");
        File.WriteAllBytes(Path.Combine(root, "empty"), []);
        File.WriteAllBytes(Path.Combine(root, "Makefile"), Data(10));
        File.WriteAllBytes(Path.Combine(root, "README.TXT"), Data(1));
        File.WriteAllBytes(Path.Combine(root, "x.y.z"), Data(5));
        File.WriteAllBytes(Path.Combine(root, "a+b.txt"), Data(7));
        File.WriteAllBytes(Path.Combine(root, ".hidden"), Data(9));
        File.WriteAllBytes(Path.Combine(root, "Ünïcödé name ✓.txt"), Data(11));
        int[] sizes = [1, clusterSize - 1, clusterSize, clusterSize + 1, 2 * clusterSize];
        foreach (int size in sizes)
        {
            File.WriteAllBytes(Path.Combine(root, "A long directory name", $"size {size} bytes.bin"), Data(size));
        }

        for (int i = 0; i < 12; i++)
        {
            File.WriteAllBytes(Path.Combine(root, "A long directory name", "nested deeper", $"longfilename{i}.text"), Data(i * 100));
        }

        File.WriteAllBytes(Path.Combine(root, "A long directory name", "nested deeper", "and deeper still", "leaf.dat"), Data(4000));
    }
}
