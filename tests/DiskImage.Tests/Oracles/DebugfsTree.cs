using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using DiskImage.FileSystems;
using DiskImage.Tests.FileSystems;

namespace DiskImage.Tests.Oracles;

/// <summary>
/// Reads a whole ext2/3/4 tree through e2fsprogs' <c>debugfs</c> (not through our reader): a few invocations
/// per image, each with a command file (<c>debugfs -f</c>): <c>ls -p</c> level by level, then <c>stat</c>,
/// <c>ea_list</c> and <c>dump</c> for every inode, then <c>ea_get -r -f</c> for every xattr. Inodes are named
/// as <c>&lt;ino&gt;</c>, so entry names never need quoting.
/// </summary>
public static partial class DebugfsTree
{
    /// <summary>Reads the tree of <paramref name="image"/>; <paramref name="workDir"/> receives temporary dumps.</summary>
    public static RandomTreeSnapshot Read(string image, string workDir, bool contents = true, Func<string, bool>? exclude = null)
    {
        var snap = new RandomTreeSnapshot();
        var byInode = new Dictionary<long, List<RandomTreeSnapshot.Entry>>();
        var root = new RandomTreeSnapshot.Entry { Path = "/", Type = UnixFileType.Directory, Inode = 2 };
        snap.Entries.Add("/", root);
        byInode[2] = [root];

        // Level by level: one invocation lists every directory found on the previous level.
        var frontier = new List<(long Inode, string Path)> { (2, "/") };
        while (frontier.Count > 0)
        {
            List<string> outputs = RunCommands(image, frontier.Select(d => $"ls -p <{d.Inode}>").ToList());
            var next = new List<(long, string)>();
            for (int i = 0; i < frontier.Count; i++)
            {
                foreach ((long ino, int mode, uint uid, uint gid, string name) in ParseLs(outputs[i], frontier[i].Path))
                {
                    if (name is "." or ".." || ino == 0)
                    {
                        // Inode 0: an unused slot (debugfs lists the empty blocks of lost+found this way).
                        continue;
                    }

                    string path = RandomOperation.FileSystemPath(frontier[i].Path, name);
                    if (exclude?.Invoke(path) == true)
                    {
                        continue;
                    }

                    var e = new RandomTreeSnapshot.Entry { Path = path, Type = (UnixFileType)(mode & 0xF000), Mode = mode & 0xFFF, UserId = uid, GroupId = gid, Inode = ino };
                    if (!snap.Entries.TryAdd(path, e))
                    {
                        throw new InvalidDataException($"debugfs lists '{path}' twice.");
                    }

                    if (!byInode.TryGetValue(ino, out List<RandomTreeSnapshot.Entry>? list))
                    {
                        byInode[ino] = list = [];
                    }

                    list.Add(e);
                    if (e.Type == UnixFileType.Directory)
                    {
                        if (list.Count > 1)
                        {
                            throw new InvalidDataException($"Directory inode {ino} is listed at '{list[0].Path}' and '{path}'.");
                        }

                        next.Add((ino, path));
                    }
                }
            }

            frontier = next;
        }

        // Every inode once: stat, ea_list, and dump for regular files.
        var inodes = byInode.Keys.Order().ToList();
        var commands = new List<string>();
        var dumps = new Dictionary<long, string>();
        foreach (long ino in inodes)
        {
            commands.Add($"stat <{ino}>");
            commands.Add($"ea_list <{ino}>");
            if (contents && byInode[ino][0].Type == UnixFileType.RegularFile)
            {
                string file = Path.Combine(workDir, "dump-" + ino.ToString(CultureInfo.InvariantCulture));
                dumps[ino] = file;
                commands.Add($"dump <{ino}> {file}");
            }
        }

        List<string> statOutputs = RunCommands(image, commands);
        var xattrCommands = new List<string>();
        var xattrTargets = new List<(long Inode, string Name, string File)>();
        var slowLinks = new List<(long Inode, string File)>();
        int k = 0;
        foreach (long ino in inodes)
        {
            string stat = statOutputs[k++];
            string eaList = statOutputs[k++];
            if (dumps.ContainsKey(ino))
            {
                k++;
            }

            ApplyStat(stat, byInode[ino], ino);
            foreach (string name in ParseEaListNames(eaList))
            {
                if (name == "system.data")
                {
                    // The inline data of an inline_data inode: content, not an attribute (the kernel hides it too).
                    continue;
                }

                string file = Path.Combine(workDir, $"xattr-{ino}-{xattrTargets.Count}");
                xattrTargets.Add((ino, name, file));
                xattrCommands.Add($"ea_get -r -f {file} <{ino}> {name}");
            }

            RandomTreeSnapshot.Entry first = byInode[ino][0];
            if (first.Type == UnixFileType.SymbolicLink && first.LinkTarget is null)
            {
                // A slow symlink: its target is the content of its data block.
                string file = Path.Combine(workDir, "link-" + ino.ToString(CultureInfo.InvariantCulture));
                slowLinks.Add((ino, file));
                xattrCommands.Add($"dump <{ino}> {file}");
            }
        }

        foreach ((long ino, string file) in dumps)
        {
            // debugfs 1.47.0 dumps all 60 bytes of i_block for an inline-data file: only i_size bytes are content.
            string hash = File.Exists(file)
                ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file).AsSpan(0, (int)Math.Min(new FileInfo(file).Length, byInode[ino][0].Size))))
                : "<debugfs dumped nothing>";
            File.Delete(file);
            foreach (RandomTreeSnapshot.Entry e in byInode[ino])
            {
                e.ContentHash = hash;
            }
        }

        if (xattrCommands.Count > 0)
        {
            RunCommands(image, xattrCommands);
            foreach ((long ino, string name, string file) in xattrTargets)
            {
                if (!File.Exists(file))
                {
                    throw new InvalidDataException($"debugfs could not read xattr {name} of inode {ino}.");
                }

                byte[] value = File.ReadAllBytes(file);
                File.Delete(file);
                if (name is "system.posix_acl_access" or "system.posix_acl_default")
                {
                    value = AclFromExt4(value);
                }

                foreach (RandomTreeSnapshot.Entry e in byInode[ino])
                {
                    e.Xattrs[name] = value;
                }
            }
        }

        foreach ((long ino, string file) in slowLinks)
        {
            byte[] bytes = File.Exists(file) ? File.ReadAllBytes(file) : [];
            File.Delete(file);
            foreach (RandomTreeSnapshot.Entry e in byInode[ino])
            {
                e.LinkTarget = Encoding.UTF8.GetString(bytes, 0, (int)Math.Min(bytes.Length, e.Size));
            }
        }

        return snap;
    }

    /// <summary>Runs one debugfs invocation with a command file and returns each command's standard output.</summary>
    public static List<string> RunCommands(string image, IReadOnlyList<string> commands)
    {
        string cmdFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(image))!, $"debugfs-{Guid.NewGuid():N}.cmds");
        File.WriteAllText(cmdFile, string.Join('\n', commands) + "\n");
        try
        {
            ToolResult r = Oracle.Run("debugfs", ["-f", cmdFile, image], TimeSpan.FromMinutes(3));
            if (r.ExitCode != 0)
            {
                throw new InvalidDataException($"debugfs failed: {r}");
            }

            // debugfs echoes "debugfs: <command>" before each command's output.
            string text = r.StandardOutput;
            var outputs = new List<string>(commands.Count);
            int pos = 0;
            for (int i = 0; i < commands.Count; i++)
            {
                string marker = "debugfs: " + commands[i] + "\n";
                int start = text.IndexOf(marker, pos, StringComparison.Ordinal);
                if (start < 0)
                {
                    throw new InvalidDataException($"debugfs output has no echo of '{commands[i]}'.\n{Tail(text)}\n{r.StandardError}");
                }

                start += marker.Length;
                int end = i + 1 < commands.Count ? text.IndexOf("debugfs: " + commands[i + 1] + "\n", start, StringComparison.Ordinal) : text.Length;
                if (end < 0)
                {
                    throw new InvalidDataException($"debugfs output has no echo of '{commands[i + 1]}'.\n{Tail(text)}\n{r.StandardError}");
                }

                outputs.Add(text[start..end]);
                pos = end;
            }

            return outputs;
        }
        finally
        {
            File.Delete(cmdFile);
        }
    }

    /// <summary>Parses <c>ls -p</c> lines: <c>/ino/mode/uid/gid/name/size/</c> (size empty for directories).</summary>
    public static IEnumerable<(long Inode, int Mode, uint Uid, uint Gid, string Name)> ParseLs(string output, string context)
    {
        foreach (string raw in output.Split('\n'))
        {
            if (raw.Length == 0)
            {
                continue;
            }

            // The name may contain anything but '/' and NUL, so fields are taken from both ends.
            string line = raw;
            int p1 = line.IndexOf('/', 1), p2 = p1 < 0 ? -1 : line.IndexOf('/', p1 + 1), p3 = p2 < 0 ? -1 : line.IndexOf('/', p2 + 1), p4 = p3 < 0 ? -1 : line.IndexOf('/', p3 + 1);
            int last = line.Length - 1, beforeSize = last > 0 ? line.LastIndexOf('/', last - 1) : -1;
            if (line[0] != '/' || p4 < 0 || line[last] != '/' || beforeSize <= p4)
            {
                throw new InvalidDataException($"Unexpected debugfs ls -p line for {context}: '{line}'");
            }

            yield return (
                long.Parse(line.AsSpan(1, p1 - 1), CultureInfo.InvariantCulture),
                Convert.ToInt32(line[(p1 + 1)..p2], 8),
                Id(line.AsSpan(p2 + 1, p3 - p2 - 1)),
                Id(line.AsSpan(p3 + 1, p4 - p3 - 1)),
                line[(p4 + 1)..beforeSize]);
        }
    }

    /// <summary>debugfs prints 32-bit ids with %d: ids over 2^31 come out negative.</summary>
    private static uint Id(ReadOnlySpan<char> text) => unchecked((uint)long.Parse(text, CultureInfo.InvariantCulture));

    private static void ApplyStat(string stat, List<RandomTreeSnapshot.Entry> entries, long ino)
    {
        Match type = StatType().Match(stat);
        Match owner = StatOwner().Match(stat);
        Match links = StatLinks().Match(stat);
        Match mtime = StatMtime().Match(stat);
        if (!type.Success || !owner.Success || !links.Success || !mtime.Success)
        {
            throw new InvalidDataException($"Unexpected debugfs stat output for inode {ino}:\n{stat}");
        }

        int mode = Convert.ToInt32(type.Groups[2].Value, 8);
        long size = long.Parse(owner.Groups[3].Value, CultureInfo.InvariantCulture);
        long seconds = (int)uint.Parse(mtime.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        int ns = 0;
        if (mtime.Groups[2].Success)
        {
            uint extra = uint.Parse(mtime.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            seconds += (long)(extra & 3) << 32;
            ns = (int)Math.Min(extra >> 2, 999_999_999u);
        }

        Match dev = StatDevice().Match(stat);
        Match fast = StatFastLink().Match(stat);
        foreach (RandomTreeSnapshot.Entry e in entries)
        {
            e.Mode = mode & 0xFFF;
            e.UserId = Id(owner.Groups[1].Value);
            e.GroupId = Id(owner.Groups[2].Value);
            e.Size = size;
            e.LinkCount = int.Parse(links.Groups[1].Value, CultureInfo.InvariantCulture);
            e.ModificationTime = new UnixTime(seconds, ns);
            if (dev.Success)
            {
                e.DeviceMajor = int.Parse(dev.Groups[1].Value, CultureInfo.InvariantCulture);
                e.DeviceMinor = int.Parse(dev.Groups[2].Value, CultureInfo.InvariantCulture);
            }

            if (e.Type == UnixFileType.SymbolicLink && fast.Success)
            {
                // The target is printed verbatim between quotes; its byte length is the inode size.
                byte[] bytes = Encoding.UTF8.GetBytes(fast.Groups[1].Value);
                e.LinkTarget = Encoding.UTF8.GetString(bytes, 0, (int)Math.Min(bytes.Length, size));
            }
        }
    }

    /// <summary>Names from <c>ea_list</c>: lines <c>  name (length) = value</c> or <c>  name (length)</c>.</summary>
    public static IEnumerable<string> ParseEaListNames(string output)
    {
        foreach (string line in output.Split('\n'))
        {
            Match m = EaListLine().Match(line);
            if (m.Success)
            {
                yield return m.Groups[1].Value;
            }
        }
    }

    /// <summary>
    /// Converts ext4's compact on-disk POSIX ACL (version 1; short entries for USER_OBJ, GROUP_OBJ, MASK and
    /// OTHER) to the standard xattr encoding (version 2, 8-byte entries, undefined id 0xFFFFFFFF) that
    /// <c>getfattr</c> and the kernel show. A value already in the standard encoding is returned unchanged.
    /// </summary>
    public static byte[] AclFromExt4(byte[] disk)
    {
        if (disk.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(disk) != 1)
        {
            return disk;
        }

        var result = new List<byte>();
        Span<byte> e = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(e, 2);
        result.AddRange(e[..4].ToArray());
        int pos = 4;
        while (pos + 4 <= disk.Length)
        {
            ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(disk.AsSpan(pos));
            ushort perm = BinaryPrimitives.ReadUInt16LittleEndian(disk.AsSpan(pos + 2));
            uint id = uint.MaxValue;
            if (tag is 0x02 or 0x08)
            {
                if (pos + 8 > disk.Length)
                {
                    throw new InvalidDataException("Truncated ext4 ACL entry.");
                }

                id = BinaryPrimitives.ReadUInt32LittleEndian(disk.AsSpan(pos + 4));
                pos += 8;
            }
            else
            {
                pos += 4;
            }

            BinaryPrimitives.WriteUInt16LittleEndian(e, tag);
            BinaryPrimitives.WriteUInt16LittleEndian(e[2..], perm);
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], id);
            result.AddRange(e.ToArray());
        }

        if (pos != disk.Length)
        {
            throw new InvalidDataException("Trailing bytes after the last ext4 ACL entry.");
        }

        return [.. result];
    }

    private static string Tail(string s) => s.Length > 2000 ? s[^2000..] : s;

    [GeneratedRegex(@"Type: ([a-zA-Z ]+?)\s+Mode:\s+([0-7]+)")]
    private static partial Regex StatType();

    [GeneratedRegex(@"User:\s+(-?\d+)\s+Group:\s+(-?\d+)(?:\s+Project:\s+\d+)?\s+Size:\s+(\d+)")]
    private static partial Regex StatOwner();

    [GeneratedRegex(@"Links:\s+(\d+)")]
    private static partial Regex StatLinks();

    [GeneratedRegex(@"(?m)^\s*mtime: 0x([0-9a-f]{8})(?::([0-9a-f]{8}))?")]
    private static partial Regex StatMtime();

    [GeneratedRegex(@"Device major/minor number: (\d+):(\d+)")]
    private static partial Regex StatDevice();

    [GeneratedRegex(@"(?m)^Fast link dest: ""(.*)""$")]
    private static partial Regex StatFastLink();

    [GeneratedRegex(@"^  (\S+) \((\d+)\)(?: = .*)?$")]
    private static partial Regex EaListLine();
}
