using DiskImage.FileSystems;

namespace DiskImage.OpenStack.Build;

/// <summary>
/// A read-only view of the part of a tree one volume of a whole-disk image holds: the subtree at its mount point,
/// where the mount points of the volumes below it read as empty directories (keeping their own mode, owner and
/// times, as the directories a mount covers). Mount-point directories the tree lacks, and the directories leading
/// to them, read as directories of mode 0755 owned by root, so every volume has a place to be mounted.
/// </summary>
internal sealed class MountSplitFileSystem : ReadOnlyFileSystemView
{
    private readonly IFileSystem _inner;
    private readonly string _mountPoint;
    private readonly HashSet<string> _covered = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UnixFileInfo> _synthesized = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _synthesizedChildren = new(StringComparer.Ordinal);

    /// <param name="inner">The whole tree.</param>
    /// <param name="mountPoint">This volume's mount point in <paramref name="inner"/>.</param>
    /// <param name="mountPoints">Every volume's mount point (this one's included).</param>
    /// <param name="synthesizedTime">The times of synthesized directories.</param>
    public MountSplitFileSystem(IFileSystem inner, string mountPoint, IEnumerable<string> mountPoints, UnixTime synthesizedTime)
        : base("The volume's view of the guest tree is read-only.")
    {
        _inner = inner;
        _mountPoint = mountPoint;
        long nextInode = -2;
        var nested = new List<string>();
        foreach (string m in mountPoints)
        {
            if (m != mountPoint && IsUnder(m, mountPoint))
            {
                nested.Add(m);
            }
        }

        foreach (string m in nested)
        {
            // Only the outermost nested mount points: the ones below them are inside those volumes.
            bool inside = false;
            foreach (string n in nested)
            {
                inside |= n != m && IsUnder(m, n);
            }

            if (inside)
            {
                continue;
            }

            string local = ToLocal(m);
            _covered.Add(local);

            // Every directory from this volume's root down to the nested mount point must exist.
            string parent = "/";
            foreach (string part in local[1..].Split('/'))
            {
                string path = parent == "/" ? "/" + part : parent + "/" + part;
                if (_synthesized.ContainsKey(path))
                {
                    parent = path;
                    continue;
                }

                if (inner.Exists(ToInner(path)))
                {
                    if (inner.GetEntry(ToInner(path)).Type != UnixFileType.Directory)
                    {
                        throw new NotSupportedException($"'{ToInner(path)}' is not a directory in the guest, so the volume mounted at '{m}' cannot be mounted there.");
                    }
                }
                else
                {
                    _synthesized[path] = Directory(path, nextInode--, synthesizedTime);
                    if (!_synthesizedChildren.TryGetValue(parent, out List<string>? list))
                    {
                        _synthesizedChildren[parent] = list = [];
                    }

                    list.Add(path);
                }

                parent = path;
            }
        }

        if (!inner.Exists(mountPoint))
        {
            _synthesized["/"] = Directory("/", -1, synthesizedTime);
        }
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="mountPoint"/> or below it.</summary>
    public static bool IsUnder(string path, string mountPoint) =>
        mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint + "/", StringComparison.Ordinal);

    public override UnixFileInfo GetEntry(string path)
    {
        string p = Normalize(path);
        if (_synthesized.TryGetValue(p, out UnixFileInfo? s))
        {
            return s;
        }

        CheckReachable(p);
        return WithPath(_inner.GetEntry(ToInner(p)), p);
    }

    public override bool Exists(string path)
    {
        string p = Normalize(path);
        if (_synthesized.ContainsKey(p))
        {
            return true;
        }

        return Reachable(p) && _inner.Exists(ToInner(p));
    }

    public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path)
    {
        string p = Normalize(path);
        var result = new List<UnixFileInfo>();
        if (_synthesizedChildren.TryGetValue(p, out List<string>? extra))
        {
            foreach (string c in extra)
            {
                result.Add(_synthesized[c]);
            }
        }

        if (_covered.Contains(p) || _synthesized.ContainsKey(p))
        {
            // A nested volume's mount point (its content lives on that volume), or a directory only this view has.
            return result;
        }

        CheckReachable(p);
        foreach (UnixFileInfo e in _inner.EnumerateDirectory(ToInner(p)))
        {
            if (e.Name is "." or "..")
            {
                continue;
            }

            string local = p == "/" ? "/" + e.Name : p + "/" + e.Name;
            result.Add(WithPath(e, local));
        }

        return result;
    }

    protected override Stream OpenRead(string path)
    {
        string p = Normalize(path);
        CheckReachable(p);
        return _inner.OpenFile(ToInner(p), FileMode.Open, FileAccess.Read);
    }

    public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path)
    {
        string p = Normalize(path);
        if (_synthesized.ContainsKey(p))
        {
            return new Dictionary<string, byte[]>();
        }

        CheckReachable(p);
        return _inner.GetXattrs(ToInner(p));
    }

    private static string Normalize(string path)
    {
        List<string> parts = FileSystemPath.Split(path);
        return parts.Count == 0 ? "/" : "/" + string.Join('/', parts);
    }

    private string ToLocal(string innerPath) => _mountPoint == "/" ? innerPath : innerPath == _mountPoint ? "/" : innerPath[_mountPoint.Length..];

    private string ToInner(string local) => _mountPoint == "/" ? local : local == "/" ? _mountPoint : _mountPoint + local;

    /// <summary>Whether <paramref name="local"/> is not strictly inside a nested volume's mount point.</summary>
    private bool Reachable(string local)
    {
        foreach (string c in _covered)
        {
            if (local != c && IsUnder(local, c))
            {
                return false;
            }
        }

        return true;
    }

    private void CheckReachable(string local)
    {
        if (!Reachable(local))
        {
            throw new FileNotFoundException($"'{local}' is on another volume of the disk.", local);
        }
    }

    private static UnixFileInfo Directory(string path, long inode, UnixTime time) => new()
    {
        Path = path,
        Type = UnixFileType.Directory,
        Mode = (UnixFileMode)0x1ed,
        UserId = 0,
        GroupId = 0,
        Size = 0,
        LinkCount = 2,
        Inode = inode,
        AccessTime = time,
        ModificationTime = time,
        ChangeTime = time,
    };

    private static UnixFileInfo WithPath(UnixFileInfo e, string path) => e.With(path, e.Inode);
}
