using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Security;

/// <summary>
/// Writes the <c>security.selinux</c> label that <c>setfiles</c>/<c>restorecon</c> would give, from the
/// guest's own policy (<see cref="SelinuxPolicy"/>), onto the entries a customization created or replaced —
/// so an SELinux guest needs no relabelling boot.
/// </summary>
/// <remarks>
/// The value is the context followed by a NUL byte, as the kernel stores it when <c>setfilecon</c> sets it.
/// The lookup key is the entry's path with the symbolic links in its directories resolved inside the file
/// system (as <c>restorecon</c> uses <c>realpath</c> of the parent), and its type is the entry's own
/// (a symbolic link is labelled as a link). An entry with no matching spec, or whose spec says
/// <c>&lt;&lt;none&gt;&gt;</c>, keeps whatever label it has. Every label is worked out before the first
/// write, so a policy error changes nothing; a label already equal to the wanted one is not rewritten.
/// </remarks>
public static class SelinuxLabeler
{
    /// <summary>The extended attribute holding an inode's SELinux context.</summary>
    public const string XattrName = "security.selinux";

    private const int MaxSymbolicLinks = 40;

    /// <summary>
    /// Labels exactly <paramref name="paths"/> using the guest's policy (<see cref="SelinuxPolicy.TryLoad"/>); does
    /// nothing when the guest does not use SELinux. Returns the number of labels written.
    /// </summary>
    public static int Label(IFileSystem fileSystem, IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(paths);
        SelinuxPolicy? policy = SelinuxPolicy.TryLoad(fileSystem);
        return policy is null ? 0 : Label(fileSystem, policy, paths);
    }

    /// <summary>Labels exactly <paramref name="paths"/> with <paramref name="policy"/>. Returns the number of labels written.</summary>
    /// <exception cref="FileNotFoundException">A path does not exist (nothing is written).</exception>
    public static int Label(IFileSystem fileSystem, SelinuxPolicy policy, IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(paths);
        var plan = new List<(string Path, byte[] Value)>();
        foreach (string path in paths)
        {
            UnixFileInfo entry = fileSystem.GetEntry(path);
            Plan(fileSystem, policy, path, ResolveDirectories(fileSystem, path), entry.Type, plan);
        }

        return Apply(fileSystem, plan);
    }

    /// <summary>
    /// Labels <paramref name="root"/> and everything below it (without following symbolic links), like
    /// <c>setfiles</c> over the tree. Returns the number of labels written.
    /// </summary>
    public static int LabelTree(IFileSystem fileSystem, SelinuxPolicy policy, string root = "/")
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentException.ThrowIfNullOrEmpty(root);
        var plan = new List<(string Path, byte[] Value)>();
        string real = ResolveDirectories(fileSystem, root);
        UnixFileInfo top = fileSystem.GetEntry(real);
        var pending = new Stack<(string Path, UnixFileType Type)>();
        pending.Push((real, top.Type));
        while (pending.Count > 0)
        {
            (string path, UnixFileType type) = pending.Pop();
            Plan(fileSystem, policy, path, path, type, plan);
            if (type == UnixFileType.Directory)
            {
                foreach (UnixFileInfo child in fileSystem.EnumerateDirectory(path))
                {
                    pending.Push((path == "/" ? "/" + child.Name : path + "/" + child.Name, child.Type));
                }
            }
        }

        return Apply(fileSystem, plan);
    }

    /// <summary>
    /// Returns <paramref name="path"/> with every symbolic link among its directories replaced by what it points to,
    /// resolved inside <paramref name="fileSystem"/>; the last component is kept as it is. "." and ".." are folded.
    /// </summary>
    internal static string ResolveDirectories(IFileSystem fileSystem, string path)
    {
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"The path '{path}' is not absolute.", nameof(path));
        }

        List<string> parts = FileSystemPath.Split(path);
        string? last = null;
        if (parts.Count > 0 && parts[^1] is not "." and not "..")
        {
            last = parts[^1];
            parts.RemoveAt(parts.Count - 1);
        }

        var resolved = new List<string>();
        var pending = new Stack<string>();
        for (int i = parts.Count - 1; i >= 0; i--)
        {
            pending.Push(parts[i]);
        }

        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            string candidate = "/" + string.Join('/', resolved) + (resolved.Count > 0 ? "/" : string.Empty) + part;
            UnixFileInfo entry = fileSystem.GetEntry(candidate);
            if (entry.Type == UnixFileType.SymbolicLink && entry.LinkTarget is { } target)
            {
                if (++links > MaxSymbolicLinks)
                {
                    throw new IOException($"Too many levels of symbolic links resolving '{path}'.");
                }

                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }

                string[] targetParts = target.Split('/');
                for (int i = targetParts.Length - 1; i >= 0; i--)
                {
                    pending.Push(targetParts[i]);
                }

                continue;
            }

            resolved.Add(part);
        }

        if (last is not null)
        {
            resolved.Add(last);
        }

        return "/" + string.Join('/', resolved);
    }

    private static void Plan(IFileSystem fileSystem, SelinuxPolicy policy, string path, string key, UnixFileType type, List<(string, byte[])> plan)
    {
        if (!policy.TryGetLabel(key, type, out string context))
        {
            return;
        }

        byte[] value = new byte[Encoding.ASCII.GetByteCount(context) + 1];
        Encoding.ASCII.GetBytes(context, value);
        if (fileSystem.GetXattrs(path).TryGetValue(XattrName, out byte[]? current) && current.AsSpan().SequenceEqual(value))
        {
            return;
        }

        plan.Add((path, value));
    }

    private static int Apply(IFileSystem fileSystem, List<(string Path, byte[] Value)> plan)
    {
        foreach ((string path, byte[] value) in plan)
        {
            fileSystem.SetXattr(path, XattrName, value);
        }

        return plan.Count;
    }
}
