using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Tests.FileSystems;

/// <summary>How two <see cref="RandomTreeSnapshot"/>s are compared.</summary>
public sealed class RandomTreeCompareOptions
{
    /// <summary>Compare nanoseconds of explicitly set mtimes (false: whole seconds).</summary>
    public bool Nanoseconds { get; init; } = true;

    /// <summary>
    /// Times the file system may have set by itself ("now"): an expected mtime inside this window is not
    /// compared exactly, but the actual one must be inside the window too.
    /// </summary>
    public (UnixTime Start, UnixTime End)? NowWindow { get; init; }

    /// <summary>Compare extended attributes.</summary>
    public bool Xattrs { get; init; } = true;

    /// <summary>Ignore user.* xattrs on entries other than files and directories (the kernel hides them).</summary>
    public bool IgnoreUserXattrsOnSpecialFiles { get; init; }

    /// <summary>Compare the permission bits of symbolic links.</summary>
    public bool SymlinkModes { get; init; } = true;

    /// <summary>Compare which paths share an inode (hard links).</summary>
    public bool HardLinkGroups { get; init; } = true;

    /// <summary>Compare modification times at all.</summary>
    public bool ModificationTimes { get; init; } = true;
}

/// <summary>
/// A file-system tree reduced to what the randomized write tests compare: per path the type, mode, owner,
/// size, link count, mtime, device numbers, link target, xattrs, a content hash and an inode key (for hard links).
/// Made from any <see cref="IFileSystem"/>, from <c>debugfs</c> output, or from a kernel's view.
/// </summary>
public sealed class RandomTreeSnapshot
{
    public Dictionary<string, Entry> Entries { get; } = new(StringComparer.Ordinal);

    /// <summary>Content hashes by inode while a snapshot is taken (hard links are hashed once).</summary>
    private readonly Dictionary<long, string> _hashes = [];

    /// <summary>One path of the tree.</summary>
    public sealed class Entry
    {
        public required string Path { get; init; }

        public UnixFileType Type { get; set; }

        public int Mode { get; set; }

        public uint UserId { get; set; }

        public uint GroupId { get; set; }

        /// <summary>Size of files and symlinks (directories: not compared).</summary>
        public long Size { get; set; }

        public int LinkCount { get; set; }

        public UnixTime ModificationTime { get; set; }

        public int DeviceMajor { get; set; }

        public int DeviceMinor { get; set; }

        public string? LinkTarget { get; set; }

        public SortedDictionary<string, byte[]> Xattrs { get; } = new(StringComparer.Ordinal);

        /// <summary>SHA-256 of a regular file's content (hex).</summary>
        public string? ContentHash { get; set; }

        /// <summary>Identifies the inode within its own snapshot (hard-link groups).</summary>
        public long Inode { get; set; }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"{Path} {Type} 0{Convert.ToString(Mode, 8)} {UserId}:{GroupId} size={Size} nlink={LinkCount} mtime={ModificationTime}");
    }

    /// <summary>Walks <paramref name="fs"/> from the root (every entry, contents hashed).</summary>
    public static RandomTreeSnapshot FromFileSystem(IFileSystem fs, Func<string, bool>? exclude = null)
    {
        var snap = new RandomTreeSnapshot();
        snap.Add(fs, fs.GetEntry("/"));
        Walk(fs, "/", snap, exclude);
        return snap;
    }

    private static void Walk(IFileSystem fs, string dir, RandomTreeSnapshot snap, Func<string, bool>? exclude)
    {
        foreach (UnixFileInfo e in fs.EnumerateDirectory(dir))
        {
            if (exclude?.Invoke(e.Path) == true)
            {
                continue;
            }

            snap.Add(fs, e);
            if (e.Type == UnixFileType.Directory)
            {
                Walk(fs, e.Path, snap, exclude);
            }
        }
    }

    private void Add(IFileSystem fs, UnixFileInfo e)
    {
        var entry = new Entry
        {
            Path = e.Path,
            Type = e.Type,
            Mode = (int)e.Mode,
            UserId = e.UserId,
            GroupId = e.GroupId,
            Size = e.Size,
            LinkCount = e.LinkCount,
            ModificationTime = e.ModificationTime,
            DeviceMajor = e.DeviceMajor,
            DeviceMinor = e.DeviceMinor,
            LinkTarget = e.LinkTarget,
            Inode = e.Inode,
        };
        foreach ((string name, byte[] value) in fs.GetXattrs(e.Path))
        {
            entry.Xattrs[name] = value;
        }

        if (e.Type == UnixFileType.RegularFile)
        {
            if (e.LinkCount <= 1 || !_hashes.TryGetValue(e.Inode, out string? hash))
            {
                using Stream s = fs.OpenFile(e.Path, FileMode.Open, FileAccess.Read);
                hash = Convert.ToHexString(SHA256.HashData(s));
                _hashes[e.Inode] = hash;
            }

            entry.ContentHash = hash;
        }

        Entries.Add(e.Path, entry);
    }

    /// <summary>Returns the differences (at most <paramref name="limit"/>), empty when the trees are equal.</summary>
    public static List<string> Compare(RandomTreeSnapshot expected, RandomTreeSnapshot actual, RandomTreeCompareOptions options, int limit = 40)
    {
        var diffs = new List<string>();
        foreach (string p in expected.Entries.Keys.Order(StringComparer.Ordinal))
        {
            if (!actual.Entries.ContainsKey(p))
            {
                diffs.Add($"missing: {p}");
            }
        }

        foreach (string p in actual.Entries.Keys.Order(StringComparer.Ordinal))
        {
            if (!expected.Entries.ContainsKey(p))
            {
                diffs.Add($"unexpected: {actual.Entries[p]}");
            }
        }

        foreach ((string path, Entry e) in expected.Entries.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (diffs.Count >= limit)
            {
                break;
            }

            if (!actual.Entries.TryGetValue(path, out Entry? a))
            {
                continue;
            }

            void Diff(string what, object? want, object? got)
            {
                if (!Equals(want, got))
                {
                    diffs.Add($"{path}: {what} is {Show(got)}, expected {Show(want)}");
                }
            }

            Diff("type", e.Type, a.Type);
            if (e.Type != a.Type)
            {
                continue;
            }

            if (e.Type != UnixFileType.SymbolicLink || options.SymlinkModes)
            {
                Diff("mode", "0" + Convert.ToString(e.Mode, 8), "0" + Convert.ToString(a.Mode, 8));
            }

            Diff("uid", e.UserId, a.UserId);
            Diff("gid", e.GroupId, a.GroupId);
            Diff("nlink", e.LinkCount, a.LinkCount);
            if (e.Type is UnixFileType.RegularFile or UnixFileType.SymbolicLink)
            {
                Diff("size", e.Size, a.Size);
            }

            if (e.Type == UnixFileType.RegularFile)
            {
                Diff("content sha256", e.ContentHash, a.ContentHash);
            }

            if (e.Type == UnixFileType.SymbolicLink)
            {
                Diff("link target", e.LinkTarget, a.LinkTarget);
            }

            if (e.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice)
            {
                Diff("device", $"{e.DeviceMajor}:{e.DeviceMinor}", $"{a.DeviceMajor}:{a.DeviceMinor}");
            }

            if (options.ModificationTimes)
            {
                CompareTime(path, e.ModificationTime, a.ModificationTime, options, diffs);
            }

            if (options.Xattrs)
            {
                CompareXattrs(path, e, a, options, diffs);
            }
        }

        if (options.HardLinkGroups && diffs.Count < limit)
        {
            CompareLinkGroups(expected, actual, diffs);
        }

        return diffs.Count > limit ? diffs.GetRange(0, limit) : diffs;
    }

    private static void CompareTime(string path, UnixTime want, UnixTime got, RandomTreeCompareOptions options, List<string> diffs)
    {
        if (options.NowWindow is { } w && want >= w.Start && want <= w.End)
        {
            if (got < w.Start || got > w.End)
            {
                diffs.Add($"{path}: mtime is {got}, expected a time set by the file system during the run ({w.Start}..{w.End})");
            }

            return;
        }

        bool same = options.Nanoseconds ? want == got : want.Seconds == got.Seconds;
        if (!same)
        {
            diffs.Add($"{path}: mtime is {got}, expected {want}");
        }
    }

    private static void CompareXattrs(string path, Entry e, Entry a, RandomTreeCompareOptions options, List<string> diffs)
    {
        bool Keep(string name, UnixFileType type) =>
            !(options.IgnoreUserXattrsOnSpecialFiles && name.StartsWith("user.", StringComparison.Ordinal) &&
              type is not (UnixFileType.RegularFile or UnixFileType.Directory));

        var want = e.Xattrs.Where(kv => Keep(kv.Key, e.Type)).ToList();
        var got = a.Xattrs.Where(kv => Keep(kv.Key, a.Type)).ToList();
        string names = string.Join(",", want.Select(kv => kv.Key)), gotNames = string.Join(",", got.Select(kv => kv.Key));
        if (names != gotNames)
        {
            diffs.Add($"{path}: xattrs [{gotNames}], expected [{names}]");
            return;
        }

        for (int i = 0; i < want.Count; i++)
        {
            if (!want[i].Value.AsSpan().SequenceEqual(got[i].Value))
            {
                diffs.Add($"{path}: xattr {want[i].Key} is {Hex(got[i].Value)}, expected {Hex(want[i].Value)}");
            }
        }
    }

    private static void CompareLinkGroups(RandomTreeSnapshot expected, RandomTreeSnapshot actual, List<string> diffs)
    {
        var wantGroups = Groups(expected);
        var gotGroups = Groups(actual);
        foreach (string g in wantGroups.Except(gotGroups).Take(5))
        {
            diffs.Add($"hard-link group [{g}] differs: actual groups holding these paths are [{string.Join("] [", gotGroups.Where(x => g.Split('|').Any(p => x.Split('|').Contains(p))))}]");
        }

        static HashSet<string> Groups(RandomTreeSnapshot s) => s.Entries.Values
            .Where(x => x.Type != UnixFileType.Directory)
            .GroupBy(x => x.Inode)
            .Where(g => g.Count() > 1)
            .Select(g => string.Join("|", g.Select(x => x.Path).Order(StringComparer.Ordinal)))
            .ToHashSet(StringComparer.Ordinal);
    }

    private static string Hex(byte[] v) => v.Length > 48 ? $"{Convert.ToHexString(v, 0, 48)}…({v.Length} bytes)" : $"{Convert.ToHexString(v)} ({v.Length} bytes)";

    private static string Show(object? o) => o switch
    {
        null => "null",
        string s => "'" + s + "'",
        _ => Convert.ToString(o, CultureInfo.InvariantCulture)!,
    };

    /// <summary>A short text listing of the tree (for failure messages).</summary>
    public string Dump(int max = 200)
    {
        var sb = new StringBuilder();
        foreach (Entry e in Entries.Values.OrderBy(x => x.Path, StringComparer.Ordinal).Take(max))
        {
            sb.Append("  ").Append(e).AppendLine();
        }

        return sb.ToString();
    }
}
