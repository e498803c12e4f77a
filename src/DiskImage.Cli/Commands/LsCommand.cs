using System.Globalization;
using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>ls [-l] [-R] [-f fmt] image [path...]</c>: lists a directory of the ext4 file system in an
/// image, like <c>virt-ls</c>: names one per line (every entry, dot-files included, sorted by byte
/// order); <c>-l</c> gives <c>ls -ln</c>-style lines; <c>-R</c> lists everything below, as full paths.
/// </summary>
internal static class LsCommand
{
    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        bool longFormat = false;
        bool recursive = false;
        if (!ImageReadArguments.TryParse(
            args,
            stdout,
            1,
            "Expecting an image file name",
            out ImageReadArguments arguments,
            "lR",
            [new LongOption("long", false, 'l'), new LongOption("recursive", false, 'R')],
            option =>
            {
                longFormat |= option == 'l';
                recursive |= option == 'R';
            }))
        {
            return 0;
        }

        using FileSystemImage image = arguments.Open();
        IReadOnlyList<string> paths = arguments.Operands.Count > 1 ? arguments.Operands.Skip(1).ToList() : ["/"];

        // Like ls: operands that are not directories first (as one listing), then each directory.
        var files = new List<(UnixFileInfo Entry, string Shown)>();
        var directories = new List<(UnixFileInfo Entry, string Shown)>();
        foreach (string path in paths)
        {
            UnixFileInfo entry = image.GetEntry(path);
            bool isDirectory = entry.IsDirectory || (!longFormat && IsDirectoryLink(image.FileSystem, path, entry));
            (isDirectory ? directories : files).Add((entry, path));
        }

        Write(stdout, files, longFormat);
        bool first = files.Count == 0;
        foreach ((UnixFileInfo entry, string path) in directories)
        {
            string directory = entry.IsDirectory ? entry.Path : path;
            var listing = new List<(UnixFileInfo Entry, string Shown)>();
            if (recursive)
            {
                CollectRecursive(image.FileSystem, entry.IsDirectory ? entry : image.GetEntry(FileSystemPath.Combine(path, ".")), listing, cancellationToken);
            }
            else
            {
                if (paths.Count > 1)
                {
                    stdout.Write(first ? $"{path}:\n" : $"\n{path}:\n");
                }

                foreach (UnixFileInfo child in Children(image.FileSystem, directory))
                {
                    listing.Add((child, child.Name));
                }
            }

            first = false;
            Write(stdout, listing, longFormat);
        }

        return 0;
    }

    private static bool IsDirectoryLink(IFileSystem fs, string path, UnixFileInfo entry)
    {
        if (entry.Type != UnixFileType.SymbolicLink)
        {
            return false;
        }

        try
        {
            return fs.GetEntry(FileSystemPath.Combine(path, ".")).IsDirectory;
        }
        catch (Exception e) when (FileSystemImage.IsGuestError(e))
        {
            return false;
        }
    }

    private static List<UnixFileInfo> Children(IFileSystem fs, string path)
    {
        List<UnixFileInfo> children;
        try
        {
            children = new List<UnixFileInfo>(fs.EnumerateDirectory(path));
        }
        catch (Exception e) when (FileSystemImage.IsGuestError(e))
        {
            throw FileSystemImage.GuestError(path, e);
        }

        children.Sort(static (a, b) => DiskImage.FileSystems.UnixPathEncoding.CompareBytes(a.Name, b.Name));
        return children;
    }

    /// <summary>Lists everything below <paramref name="top"/>, depth-first with its own stack: any depth, cycles refused by inode identity.</summary>
    private static void CollectRecursive(IFileSystem fs, UnixFileInfo top, List<(UnixFileInfo, string)> listing, CancellationToken cancellationToken)
    {
        var guard = new DirectoryCycleGuard();
        var stack = new Stack<(UnixFileInfo Directory, List<UnixFileInfo> Children, int Next)>();
        try
        {
            guard.Enter(top);
            stack.Push((top, Children(fs, top.Path), 0));
            while (stack.Count > 0)
            {
                (UnixFileInfo directory, List<UnixFileInfo> children, int next) = stack.Pop();
                if (next == children.Count)
                {
                    guard.Leave(directory);
                    continue;
                }

                cancellationToken.ThrowIfCancellationRequested();
                stack.Push((directory, children, next + 1));
                UnixFileInfo child = children[next];
                listing.Add((child, child.Path));
                if (child.IsDirectory)
                {
                    guard.Enter(child);
                    stack.Push((child, Children(fs, child.Path), 0));
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static void Write(TextWriter stdout, List<(UnixFileInfo Entry, string Shown)> listing, bool longFormat)
    {
        if (!longFormat)
        {
            foreach ((_, string shown) in listing)
            {
                stdout.Write(shown);
                stdout.Write('\n');
            }

            return;
        }

        // Columns are right-aligned to the widest value of the listing, as ls -n does.
        int links = 1, uid = 1, gid = 1, size = 1;
        foreach ((UnixFileInfo e, _) in listing)
        {
            links = Math.Max(links, Digits(e.LinkCount));
            uid = Math.Max(uid, Digits(e.UserId));
            gid = Math.Max(gid, Digits(e.GroupId));
            size = Math.Max(size, SizeText(e).Length);
        }

        var line = new StringBuilder(128);
        foreach ((UnixFileInfo e, string shown) in listing)
        {
            line.Clear();
            line.Append(ModeString(e.Type, (int)e.Mode)).Append(' ');
            line.Append(e.LinkCount.ToString(CultureInfo.InvariantCulture).PadLeft(links)).Append(' ');
            line.Append(e.UserId.ToString(CultureInfo.InvariantCulture).PadLeft(uid)).Append(' ');
            line.Append(e.GroupId.ToString(CultureInfo.InvariantCulture).PadLeft(gid)).Append(' ');
            line.Append(SizeText(e).PadLeft(size)).Append(' ');
            line.Append(TimeText(e.ModificationTime)).Append(' ');
            line.Append(shown);
            if (e.Type == UnixFileType.SymbolicLink)
            {
                line.Append(" -> ").Append(e.LinkTarget);
            }

            line.Append('\n');
            stdout.Write(line.ToString());
        }
    }

    private static int Digits(long value) => value.ToString(CultureInfo.InvariantCulture).Length;

    private static string SizeText(UnixFileInfo e) => e.Type is UnixFileType.CharacterDevice or UnixFileType.BlockDevice
        ? string.Create(CultureInfo.InvariantCulture, $"{e.DeviceMajor}, {e.DeviceMinor}")
        : e.Size.ToString(CultureInfo.InvariantCulture);

    private static string TimeText(UnixTime time)
    {
        try
        {
            return time.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        }
        catch (ArgumentOutOfRangeException)
        {
            return time.Seconds.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The <c>ls -l</c> mode string (<c>drwxr-xr-x</c>, with s/S/t/T for set-id and sticky bits).</summary>
    public static string ModeString(UnixFileType type, int mode)
    {
        Span<char> s = stackalloc char[10];
        s[0] = type switch
        {
            UnixFileType.Directory => 'd',
            UnixFileType.SymbolicLink => 'l',
            UnixFileType.CharacterDevice => 'c',
            UnixFileType.BlockDevice => 'b',
            UnixFileType.Fifo => 'p',
            UnixFileType.Socket => 's',
            _ => '-',
        };
        ReadOnlySpan<char> rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++)
        {
            s[i + 1] = (mode & (1 << (8 - i))) != 0 ? rwx[i] : '-';
        }

        if ((mode & 0x800) != 0)
        {
            s[3] = s[3] == 'x' ? 's' : 'S';
        }

        if ((mode & 0x400) != 0)
        {
            s[6] = s[6] == 'x' ? 's' : 'S';
        }

        if ((mode & 0x200) != 0)
        {
            s[9] = s[9] == 'x' ? 't' : 'T';
        }

        return new string(s);
    }
}
