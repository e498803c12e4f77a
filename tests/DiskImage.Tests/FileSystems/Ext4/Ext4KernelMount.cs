using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// The running Linux kernel as a judge: mounts an image read-only through a loop device and reads the tree back
/// with lstat/readlink/llistxattr and plain reads. Needs root and working loop devices; opt in with
/// DISKIMAGE_KERNEL_MOUNT=1, or it is used automatically when a probe mount works. Otherwise tests skip with the
/// reason (a plain skip, also under DISKIMAGE_REQUIRE_ORACLES: a missing loop device is not a missing oracle).
/// </summary>
[SupportedOSPlatform("linux")]
public static class Ext4KernelMount
{
    private static readonly Lazy<string?> Probe = new(ProbeMount);

    /// <summary>Why loop mounts cannot be used here, or null when they can.</summary>
    public static string? UnavailableReason => Probe.Value;

    /// <summary>Skips the calling test unless loop mounts work.</summary>
    public static void Require()
    {
        if (UnavailableReason is { } reason)
        {
            throw new SkipException("Kernel mount tests skipped: " + reason);
        }
    }

    private static string? ProbeMount()
    {
        if (Environment.GetEnvironmentVariable("DISKIMAGE_KERNEL_MOUNT") is "0" or "false")
        {
            return "DISKIMAGE_KERNEL_MOUNT=0";
        }

        if (!HostFiles.IsRoot)
        {
            return "not running as root (mount needs it); set DISKIMAGE_KERNEL_MOUNT=1 as root with loop devices to run them";
        }

        foreach (string tool in new[] { "mount", "umount", "losetup", "mke2fs" })
        {
            if (Oracle.Find(tool) is null)
            {
                return $"'{tool}' is not installed";
            }
        }

        ToolResult free = Oracle.Run("losetup", ["-f"], TimeSpan.FromSeconds(20));
        if (free.ExitCode != 0)
        {
            return "no free loop device (losetup -f: " + (free.StandardError + free.StandardOutput).Trim() + ")";
        }

        using var tmp = new TempDirectory();
        string image = tmp.File("probe.img");
        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", image, "4M"], TimeSpan.FromMinutes(1));
        if (mk.ExitCode != 0)
        {
            return "mke2fs failed: " + mk;
        }

        try
        {
            using Mounted m = Mount(image, tmp.File("mnt"));
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Mounts <paramref name="image"/> (read-only unless <paramref name="options"/> say otherwise) on a new directory; dispose
    /// to unmount. XFS is mounted with <c>nouuid</c>: tests build images with one fixed UUID and run in parallel, and the
    /// kernel refuses a second mounted XFS with the UUID of one already mounted.
    /// </summary>
    public static Mounted Mount(string image, string mountPoint, string type = "ext4", string options = "ro,loop")
    {
        Directory.CreateDirectory(mountPoint);
        if (type == "xfs" && !options.Contains("nouuid", StringComparison.Ordinal))
        {
            options += ",nouuid";
        }

        ToolResult r = Oracle.Run("mount", ["-t", type, "-o", options, image, mountPoint], TimeSpan.FromMinutes(1));
        if (r.ExitCode != 0)
        {
            string dmesg = Oracle.Find("dmesg") is null ? string.Empty : Tail(Oracle.Run("dmesg", ["--notime"], TimeSpan.FromSeconds(20)).StandardOutput, 1500);
            throw new InvalidOperationException($"mount -t {type} -o {options} failed: {r}\nkernel log tail:\n{dmesg}");
        }

        return new Mounted(mountPoint);
    }

    /// <summary>The tree under <paramref name="root"/> as the kernel presents it (lstat, readlink, xattrs, content).</summary>
    public static RandomTreeSnapshot Snapshot(string root)
    {
        const string Format = "%i\t%f\t%u\t%g\t%h\t%s\t%.9Y\t%t\t%T\t%n\\0";
        ToolResult r = Oracle.Run("find", [root, "-exec", "stat", "--printf", Format, "{}", "+"], TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        var snap = new RandomTreeSnapshot();
        var hashes = new Dictionary<long, string>();
        foreach (string record in r.StandardOutput.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            if (record == "\n")
            {
                continue; // the line break the output reader appends
            }

            string[] f = record.Split('\t', 10);
            string host = f[9];
            string path = host == root ? "/" : host[root.Length..];
            var e = new RandomTreeSnapshot.Entry
            {
                Path = path,
                Inode = long.Parse(f[0], CultureInfo.InvariantCulture),
                Type = (UnixFileType)(Convert.ToInt32(f[1], 16) & 0xF000),
                Mode = Convert.ToInt32(f[1], 16) & 0xFFF,
                UserId = uint.Parse(f[2], CultureInfo.InvariantCulture),
                GroupId = uint.Parse(f[3], CultureInfo.InvariantCulture),
                LinkCount = int.Parse(f[4], CultureInfo.InvariantCulture),
                Size = long.Parse(f[5], CultureInfo.InvariantCulture),
                ModificationTime = ParseTime(f[6]),
                DeviceMajor = Convert.ToInt32(f[7], 16),
                DeviceMinor = Convert.ToInt32(f[8], 16),
            };
            switch (e.Type)
            {
                case UnixFileType.RegularFile:
                    if (!hashes.TryGetValue(e.Inode, out string? hash))
                    {
                        using FileStream s = File.OpenRead(host);
                        hashes[e.Inode] = hash = Convert.ToHexString(SHA256.HashData(s));
                    }

                    e.ContentHash = hash;
                    break;
                case UnixFileType.SymbolicLink:
                    e.LinkTarget = new FileInfo(host).LinkTarget;
                    break;
            }

            foreach ((string name, byte[] value) in HostFiles.GetXattrs(host))
            {
                e.Xattrs[name] = value;
            }

            snap.Entries.Add(path, e);
        }

        return snap;
    }

    /// <summary>Parses "seconds.nanoseconds" as GNU stat prints it (the sign applies to the whole value).</summary>
    internal static UnixTime ParseTime(string text)
    {
        bool negative = text.StartsWith('-');
        string[] parts = text.TrimStart('-').Split('.');
        long seconds = long.Parse(parts[0], CultureInfo.InvariantCulture);
        int ns = parts.Length > 1 ? int.Parse(parts[1].PadRight(9, '0')[..9], CultureInfo.InvariantCulture) : 0;
        if (!negative)
        {
            return new UnixTime(seconds, ns);
        }

        return ns == 0 ? new UnixTime(-seconds, 0) : new UnixTime(-seconds - 1, 1_000_000_000 - ns);
    }

    private static string Tail(string s, int n) => s.Length > n ? s[^n..] : s;

    /// <summary>A mounted image; disposing unmounts it (the loop device is released with it).</summary>
    public sealed class Mounted(string mountPoint) : IDisposable
    {
        public string MountPoint { get; } = mountPoint;

        public void Dispose()
        {
            ToolResult r = Oracle.Run("umount", [MountPoint], TimeSpan.FromMinutes(1));
            if (r.ExitCode != 0)
            {
                // Busy for a moment after heavy reads: retry once, lazily.
                Oracle.Run("umount", ["-l", MountPoint], TimeSpan.FromMinutes(1));
            }
        }
    }
}
