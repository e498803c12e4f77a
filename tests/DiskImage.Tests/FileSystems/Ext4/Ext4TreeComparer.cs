using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Compares a host source tree (as find(1), lstat and xattr calls see it) with what an
/// <see cref="IFileSystem"/> reports for the image built from it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class Ext4TreeComparer
{
    /// <summary>
    /// Asserts every path, type, mode, owner, size, link count, atime/mtime (whole seconds: mke2fs 1.47 -d
    /// drops nanoseconds), link target, device number, xattr and content byte match. Returns the number of entries compared.
    /// </summary>
    public static int AssertMatches(string sourceRoot, IFileSystem fs, HostTreeExpectations? expectations, bool compareXattrs = true)
    {
        ToolResult r = Oracle.Run("find", ["-H", sourceRoot, "-mindepth", "1", "-printf", "%P\t%y\t%U\t%G\t%n\t%m\n"], TimeSpan.FromMinutes(1));
        Assert.Equal(0, r.ExitCode);
        var expected = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (string line in r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split('\t');
            expected["/" + f[0]] = f;
        }

        var actual = new Dictionary<string, UnixFileInfo>(StringComparer.Ordinal);
        Walk(fs, "/", actual);
        actual.Remove("/lost+found");
        var missing = expected.Keys.Except(actual.Keys).Take(10).ToArray();
        var extra = actual.Keys.Except(expected.Keys).Take(10).ToArray();
        Assert.True(missing.Length == 0 && extra.Length == 0, $"missing: {string.Join(", ", missing)}; extra: {string.Join(", ", extra)}");

        byte[] hostBuf = new byte[1 << 16];
        byte[] ourBuf = new byte[1 << 16];
        foreach ((string path, string[] f) in expected)
        {
            UnixFileInfo a = actual[path];
            string host = Path.Combine(sourceRoot, path[1..]);
            string ctx = $"{path}: ";
            UnixFileType type = f[1] switch
            {
                "f" => UnixFileType.RegularFile,
                "d" => UnixFileType.Directory,
                "l" => UnixFileType.SymbolicLink,
                "c" => UnixFileType.CharacterDevice,
                "b" => UnixFileType.BlockDevice,
                "p" => UnixFileType.Fifo,
                "s" => UnixFileType.Socket,
                _ => throw new InvalidOperationException(f[1]),
            };
            Assert.True(type == a.Type, ctx + $"type {a.Type}, expected {type}");
            Assert.True(uint.Parse(f[2], CultureInfo.InvariantCulture) == a.UserId, ctx + $"uid {a.UserId}, expected {f[2]}");
            Assert.True(uint.Parse(f[3], CultureInfo.InvariantCulture) == a.GroupId, ctx + $"gid {a.GroupId}, expected {f[3]}");
            Assert.True(int.Parse(f[4], CultureInfo.InvariantCulture) == a.LinkCount, ctx + $"nlink {a.LinkCount}, expected {f[4]}");
            Assert.True(Convert.ToInt32(f[5], 8) == (int)a.Mode, ctx + $"mode {Convert.ToString((int)a.Mode, 8)}, expected {f[5]}");

            // mke2fs 1.47.0 -d stores atime/mtime as 32-bit signed seconds only (no nanoseconds, no epoch
            // bits), so the expected on-disk value is the source time truncated that way. Reading the source
            // (mke2fs, this comparer) may update atime on the host, so the times as set are used when known;
            // otherwise only regular files and directories are checked (FileInfo follows symlinks here).
            if (expectations is not null && expectations.Times.TryGetValue(path, out (UnixTime Access, UnixTime Modification) t))
            {
                Assert.True(AsMke2fsStores(t.Modification.Seconds) == a.ModificationTime.Seconds, ctx + $"mtime {a.ModificationTime}, expected {t.Modification}");
                Assert.True(AsMke2fsStores(t.Access.Seconds) == a.AccessTime.Seconds, ctx + $"atime {a.AccessTime}, expected {t.Access}");
            }
            else if (type is UnixFileType.RegularFile or UnixFileType.Directory)
            {
                long mtime = FloorSeconds(File.GetLastWriteTimeUtc(host));
                Assert.True(AsMke2fsStores(mtime) == a.ModificationTime.Seconds, ctx + $"mtime {a.ModificationTime}, expected {mtime}");
            }

            if (compareXattrs)
            {
                Dictionary<string, byte[]> hx = HostFiles.GetXattrs(host);
                IReadOnlyDictionary<string, byte[]> ax = fs.GetXattrs(path);
                Assert.True(hx.Count == ax.Count, ctx + $"xattrs [{string.Join(",", ax.Keys)}], expected [{string.Join(",", hx.Keys)}]");
                foreach ((string name, byte[] value) in hx)
                {
                    Assert.True(ax.TryGetValue(name, out byte[]? v) && v.AsSpan().SequenceEqual(value), ctx + $"xattr {name} differs");
                }
            }

            switch (type)
            {
                case UnixFileType.RegularFile:
                    long length = new FileInfo(host).Length;
                    Assert.True(length == a.Size, ctx + $"size {a.Size}, expected {length}");
                    using (var hs = new FileStream(host, FileMode.Open, FileAccess.Read))
                    using (Stream os = fs.OpenFile(path, FileMode.Open, FileAccess.Read))
                    {
                        long pos = 0;
                        while (true)
                        {
                            int n = hs.ReadAtLeast(hostBuf, hostBuf.Length, throwOnEndOfStream: false);
                            int m = os.ReadAtLeast(ourBuf, ourBuf.Length, throwOnEndOfStream: false);
                            Assert.True(n == m, ctx + $"length differs near {pos}");
                            if (!hostBuf.AsSpan(0, n).SequenceEqual(ourBuf.AsSpan(0, m)))
                            {
                                Assert.Fail(ctx + $"content differs in the 64 KiB chunk at {pos}");
                            }

                            if (n == 0)
                            {
                                break;
                            }

                            pos += n;
                        }
                    }

                    break;
                case UnixFileType.SymbolicLink:
                    string target = new FileInfo(host).LinkTarget!;
                    Assert.True(target == a.LinkTarget, ctx + $"target '{a.LinkTarget}', expected '{target}'");
                    Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(target), a.Size);
                    break;
                case UnixFileType.CharacterDevice or UnixFileType.BlockDevice when expectations is not null:
                    (int major, int minor) = expectations.Devices[path];
                    Assert.True((major, minor) == (a.DeviceMajor, a.DeviceMinor), ctx + $"device {a.DeviceMajor}:{a.DeviceMinor}, expected {major}:{minor}");
                    break;
            }
        }

        return expected.Count;
    }

    private static long AsMke2fsStores(long seconds) => (int)seconds;

    private static long FloorSeconds(DateTime utc)
    {
        long ticks = utc.Ticks - DateTime.UnixEpoch.Ticks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        return rem < 0 ? seconds - 1 : seconds;
    }

    private static void Walk(IFileSystem fs, string dir, Dictionary<string, UnixFileInfo> into)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            into.Add(e.Path, e);
            Assert.Equal(e.Inode, fs.GetEntry(e.Path).Inode);
            if (e.Type == UnixFileType.Directory)
            {
                Walk(fs, e.Path, into);
            }
        }
    }
}
