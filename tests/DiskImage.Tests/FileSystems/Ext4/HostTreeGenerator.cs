using System.Globalization;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>What a generated source tree should exercise.</summary>
public sealed record HostTreeShape
{
    /// <summary>Entries in the large directory (htree once indexed).</summary>
    public int BigDirectoryEntries { get; init; } = 2100;

    /// <summary>Extra name length in the large directory (longer names need more leaf blocks: htree depth 2).</summary>
    public int BigDirectoryNamePadding { get; init; } = 10;

    /// <summary>Whether to add times beyond 2038 (need 256-byte inodes).</summary>
    public bool Post2038Times { get; init; } = true;

    /// <summary>Offset in MiB of the last data run of the sparse file (70 reaches triple-indirect blocks with 1 KiB block maps).</summary>
    public int SparseFarOffsetMiB { get; init; } = 5;

    /// <summary>Whether the sparse file ends in a hole (mke2fs 1.47.0 -d with inline_data drops a trailing hole from i_size).</summary>
    public bool SparseTrailingHole { get; init; } = true;
}

/// <summary>
/// Builds a randomized source tree on the host (fixed seed): files of many sizes, sparse and
/// fragmented files, deep and large directories, fast/slow/dangling symlinks, hard links, device
/// nodes, FIFOs and sockets (root only), user/security/trusted xattrs, modes, owners and times.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class HostTreeGenerator
{
    private static readonly int[] Sizes = [0, 1, 59, 60, 61, 100, 1023, 1024, 1025, 4095, 4096, 4097, 12288, 65537, 200_000];
    private static readonly int[] Modes = [0x1A4, 0x180, 0x1ED, 0x9ED, 0x5ED, 0x3FF, 0x0, 0x124, 0x1FF];

    /// <summary>Creates the tree; returns what the host cannot report reliably afterwards (device numbers, atime/mtime as set).</summary>
    public static HostTreeExpectations Generate(string root, int seed, HostTreeShape shape)
    {
        var rng = new Random(seed);
        bool isRoot = HostFiles.IsRoot;
        var expectations = new HostTreeExpectations();
        var devices = expectations.Devices;
        Directory.CreateDirectory(Path.Combine(root, "files"));
        for (int i = 0; i < Sizes.Length; i++)
        {
            string p = Path.Combine(root, "files", string.Create(CultureInfo.InvariantCulture, $"f{i:D2}-{Sizes[i]}"));
            File.WriteAllBytes(p, Bytes(rng, Sizes[i]));
        }

        File.WriteAllBytes(Path.Combine(root, "files", "ünïcødé-日本.txt"), Encoding.UTF8.GetBytes("non-ASCII name\n"));
        File.WriteAllBytes(Path.Combine(root, "big.bin"), Bytes(rng, 3 * 1024 * 1024 + 17));

        // Sparse: data at 0, 1 MiB and far out (70 MiB is past the double-indirect range of 1 KiB block maps).
        using (var s = new FileStream(Path.Combine(root, "sparse.bin"), FileMode.CreateNew))
        {
            s.Write(Bytes(rng, 4096));
            s.Position = 1 << 20;
            s.Write(Bytes(rng, 5000));
            s.Position = (long)shape.SparseFarOffsetMiB << 20;
            s.Write(Bytes(rng, 1024));
            if (shape.SparseTrailingHole)
            {
                s.SetLength(((long)shape.SparseFarOffsetMiB << 20) + 3000);
            }
        }

        // Fragmented: 400 separate 1 KiB runs, so extent trees need depth 1 or 2.
        using (var s = new FileStream(Path.Combine(root, "frag.bin"), FileMode.CreateNew))
        {
            for (int i = 0; i < 400; i++)
            {
                s.Position = i * 8192L;
                s.Write(Bytes(rng, 1024));
            }
        }

        string deep = root;
        for (int i = 0; i < 20; i++)
        {
            deep = Path.Combine(deep, "d" + i.ToString(CultureInfo.InvariantCulture));
        }

        Directory.CreateDirectory(deep);
        File.WriteAllText(Path.Combine(deep, "leaf.txt"), "deep leaf\n");

        string big = Path.Combine(root, "bigdir");
        Directory.CreateDirectory(big);
        for (int i = 0; i < shape.BigDirectoryEntries; i++)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"entry-{i:D5}-") + new string('x', rng.Next(shape.BigDirectoryNamePadding + 1));
            File.WriteAllBytes(Path.Combine(big, name), i % 97 == 0 ? Bytes(rng, 10) : []);
        }

        Directory.CreateDirectory(Path.Combine(root, "links"));
        File.CreateSymbolicLink(Path.Combine(root, "links", "fast"), "../files/f01-1");
        File.CreateSymbolicLink(Path.Combine(root, "links", "slow"), "/" + string.Join('/', Enumerable.Repeat("a-long-component", 8)));
        File.CreateSymbolicLink(Path.Combine(root, "links", "exactly60"), new string('t', 60));
        File.CreateSymbolicLink(Path.Combine(root, "links", "absdir"), "/d0/d1");
        File.WriteAllText(Path.Combine(root, "links", "shared"), "shared content\n");
        HostFiles.Link(Path.Combine(root, "links", "shared"), Path.Combine(root, "links", "shared2"));
        HostFiles.Link(Path.Combine(root, "links", "shared"), Path.Combine(root, "files", "shared3"));

        Directory.CreateDirectory(Path.Combine(root, "xattrs"));
        string xa = Path.Combine(root, "xattrs", "small");
        File.WriteAllText(xa, "x");
        HostFiles.SetXattr(xa, "user.a", "1"u8.ToArray());
        HostFiles.SetXattr(xa, "security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray());
        string xb = Path.Combine(root, "xattrs", "block");
        File.WriteAllText(xb, "y");
        HostFiles.SetXattr(xb, "user.big", Bytes(rng, 500));
        for (int i = 0; i < 6; i++)
        {
            HostFiles.SetXattr(xb, "user.k" + i.ToString(CultureInfo.InvariantCulture), Bytes(rng, rng.Next(30)));
        }

        HostFiles.SetXattr(Path.Combine(root, "xattrs"), "user.on-dir", "dir"u8.ToArray());
        HostFiles.SetXattr(Path.Combine(root, "xattrs"), "user.empty", []);

        if (isRoot)
        {
            Directory.CreateDirectory(Path.Combine(root, "dev"));
            AddDevice(root, devices, "dev/null", UnixFileType.CharacterDevice, 1, 3);
            AddDevice(root, devices, "dev/sda1", UnixFileType.BlockDevice, 8, 1);
            AddDevice(root, devices, "dev/bignums", UnixFileType.CharacterDevice, 300, 70000);
            HostFiles.Mknod(Path.Combine(root, "dev", "fifo"), UnixFileType.Fifo, 0x1A4, 0, 0);
            HostFiles.Mknod(Path.Combine(root, "dev", "socket"), UnixFileType.Socket, 0x1ED, 0, 0);
            HostFiles.SetXattr(Path.Combine(root, "links", "fast"), "trusted.on-link", "l"u8.ToArray());
            HostFiles.SetXattr(xa, "trusted.t", "trusted value"u8.ToArray());
            HostFiles.SetXattr(xa, "system.posix_acl_access", PosixAcl((0x01, 6, uint.MaxValue), (0x02, 4, 1234), (0x04, 4, uint.MaxValue), (0x08, 5, 777), (0x10, 7, uint.MaxValue), (0x20, 0, uint.MaxValue)));
            HostFiles.SetXattr(Path.Combine(root, "xattrs"), "system.posix_acl_default", PosixAcl((0x01, 7, uint.MaxValue), (0x04, 5, uint.MaxValue), (0x20, 5, uint.MaxValue)));
        }

        // Modes, owners and times on every regular file, directory and symlink (depth-first, root excluded).
        foreach (string p in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray())
        {
            var info = new FileInfo(p);
            bool isLink = info.LinkTarget is not null;
            bool isDir = !isLink && Directory.Exists(p);
            if (!isLink && (rng.Next(3) == 0 || isDir) && !p.Contains("bigdir", StringComparison.Ordinal))
            {
                int mode = Modes[rng.Next(Modes.Length)];
                File.SetUnixFileMode(p, (UnixFileMode)(isDir ? mode | 0x1C0 : mode));
            }

            if (isRoot && rng.Next(2) == 0)
            {
                HostFiles.Chown(p, (uint)rng.Next(70_000), (uint)rng.Next(70_000));
            }

            // Hard-linked names share one inode: time it once, through its first name.
            if (p.EndsWith("shared2", StringComparison.Ordinal) || p.EndsWith("shared3", StringComparison.Ordinal))
            {
                continue;
            }

            long limit = shape.Post2038Times ? 1L << 33 : int.MaxValue;
            var atime = new UnixTime(rng.NextInt64(-100_000, limit), rng.Next(1_000_000_000));
            var mtime = new UnixTime(rng.NextInt64(0, limit), rng.Next(1_000_000_000));
            HostFiles.SetTimes(p, atime, mtime);
            expectations.Times["/" + Path.GetRelativePath(root, p)] = (atime, mtime);
        }

        foreach (string alias in new[] { "/links/shared2", "/files/shared3" })
        {
            expectations.Times[alias] = expectations.Times["/links/shared"];
        }

        return expectations;
    }

    private static void AddDevice(string root, Dictionary<string, (int Major, int Minor)> devices, string rel, UnixFileType type, int major, int minor)
    {
        HostFiles.Mknod(Path.Combine(root, rel), type, 0x1B0, major, minor);
        devices["/" + rel] = (major, minor);
    }

    /// <summary>A POSIX ACL in the xattr encoding (version 2, 8-byte entries: tag, perm, id).</summary>
    private static byte[] PosixAcl(params (ushort Tag, ushort Perm, uint Id)[] entries)
    {
        byte[] b = new byte[4 + (8 * entries.Length)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, 2);
        for (int i = 0; i < entries.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4 + (8 * i)), entries[i].Tag);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6 + (8 * i)), entries[i].Perm);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8 + (8 * i)), entries[i].Id);
        }

        return b;
    }

    private static byte[] Bytes(Random rng, int n)
    {
        byte[] b = new byte[n];
        rng.NextBytes(b);
        return b;
    }
}

/// <summary>Facts about a generated tree that reading the host later would distort (reading updates atime).</summary>
public sealed class HostTreeExpectations
{
    /// <summary>Device nodes (absolute path in the tree → major, minor).</summary>
    public Dictionary<string, (int Major, int Minor)> Devices { get; } = new(StringComparer.Ordinal);

    /// <summary>atime and mtime as set (absolute path in the tree).</summary>
    public Dictionary<string, (UnixTime Access, UnixTime Modification)> Times { get; } = new(StringComparer.Ordinal);
}
