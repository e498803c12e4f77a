using DiskImage.FileSystems;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Adds guest programs to a <see cref="GuestRamdiskTree"/> with what the dynamic loader would load for them:
/// the interpreter (<c>PT_INTERP</c>), then every <c>DT_NEEDED</c> library, transitively, found as glibc's
/// <c>ld.so</c> finds it — <c>DT_RPATH</c> of the object and of the objects that loaded it (when the object
/// has no <c>DT_RUNPATH</c>), <c>DT_RUNPATH</c> of the object, the directories of the guest's
/// <c>/etc/ld.so.conf</c> (with its <c>include</c>s, standing in for <c>ld.so.cache</c>), then the system
/// directories (the multiarch ones, <c>/lib64</c> and <c>/usr/lib64</c> for 64-bit objects, <c>/lib</c>,
/// <c>/usr/lib</c>) — skipping candidates of another class, byte order or machine. <c>$ORIGIN</c>,
/// <c>$LIB</c> and <c>$PLATFORM</c> are expanded. A script brings its <c>#!</c> interpreter.
/// </summary>
internal sealed class GuestLibraryResolver
{
    private const int MaxIncludeDepth = 8;

    private readonly GuestRamdiskTree _tree;
    private readonly Dictionary<string, ElfDynamicInfo?> _done = new(StringComparer.Ordinal);
    private List<string>? _configDirectories;

    public GuestLibraryResolver(GuestRamdiskTree tree)
    {
        _tree = tree;
    }

    /// <summary>The resolved guest paths (no leading slash) of every ELF object added, libraries included.</summary>
    public IEnumerable<string> Objects => _done.Keys;

    /// <summary>
    /// Adds the program at <paramref name="guestPath"/> (and its symbolic-link chain) with its interpreter and libraries.
    /// </summary>
    /// <exception cref="FileNotFoundException">The program, its interpreter or a needed library is not in the guest.</exception>
    /// <exception cref="InvalidDataException">An ELF file involved is malformed.</exception>
    public void AddProgram(string guestPath, CancellationToken cancellationToken)
    {
        (string resolved, UnixFileInfo info) = _tree.AddGuestPath(guestPath);
        if (info.Type != UnixFileType.RegularFile || _done.ContainsKey(resolved))
        {
            return;
        }

        byte[] head = new byte[256];
        int n;
        using (Stream s = _tree.Guest.OpenFile("/" + resolved, FileMode.Open, FileAccess.Read))
        {
            n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }

        if (ElfDynamicInfo.HasMagic(head.AsSpan(0, n)))
        {
            AddObject(resolved, "/" + resolved, null, cancellationToken);
        }
        else if (n > 2 && head[0] == '#' && head[1] == '!')
        {
            _done[resolved] = null;
            if (Shebang(head.AsSpan(2, n - 2)) is { } interpreter)
            {
                AddProgram(interpreter, cancellationToken);
            }
        }
    }

    /// <summary>The interpreter path of a <c>#!</c> line (the text after <c>#!</c>), or null when it names none.</summary>
    internal static string? Shebang(ReadOnlySpan<byte> line)
    {
        int end = line.IndexOfAny((byte)'\n', (byte)0);
        if (end >= 0)
        {
            line = line[..end];
        }

        line = line.Trim(" \t\r"u8);
        int space = line.IndexOfAny((byte)' ', (byte)'\t');
        if (space >= 0)
        {
            line = line[..space];
        }

        return line.Length > 0 && line[0] == '/' ? UnixPathEncoding.GetString(line) : null;
    }

    private void AddObject(string resolved, string loadedAs, LoaderChain? loader, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_done.ContainsKey(resolved))
        {
            return;
        }

        ElfDynamicInfo info;
        using (Stream s = _tree.Guest.OpenFile("/" + resolved, FileMode.Open, FileAccess.Read))
        {
            try
            {
                info = ElfDynamicInfo.Read(s);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"'/{resolved}': {e.Message}", e);
            }
        }

        _done[resolved] = info;
        if (info.Interpreter is { } interpreter)
        {
            if (!interpreter.StartsWith('/'))
            {
                throw new InvalidDataException($"'/{resolved}': the ELF interpreter '{interpreter}' is not an absolute path.");
            }

            AddProgram(interpreter, cancellationToken);
        }

        string origin = Directory(loadedAs);
        var chain = new LoaderChain(info, origin, loader);
        foreach (string needed in info.Needed)
        {
            string found = Find(needed, info, chain)
                ?? throw new FileNotFoundException($"'{needed}', needed by '/{resolved}', is not in the guest's library path.", needed);
            (string libResolved, _) = _tree.AddGuestPath(found);
            AddObject(libResolved, found, chain, cancellationToken);
        }
    }

    private string? Find(string needed, ElfDynamicInfo requester, LoaderChain chain)
    {
        if (needed.Contains('/'))
        {
            string path = needed.StartsWith('/') ? needed : chain.Origin + "/" + needed;
            return IsCandidate(path, requester) ? path : null;
        }

        if (requester.RunPath is null)
        {
            for (LoaderChain? c = chain; c is not null; c = c.Loader)
            {
                if (c.Info.RunPath is null && c.Info.RPath is { } rpath && Search(needed, requester, Expand(rpath, c)) is { } hit)
                {
                    return hit;
                }
            }
        }
        else if (Search(needed, requester, Expand(requester.RunPath, chain)) is { } hit)
        {
            return hit;
        }

        return Search(needed, requester, ConfigDirectories()) ?? Search(needed, requester, SystemDirectories(requester));
    }

    private string? Search(string needed, ElfDynamicInfo requester, IEnumerable<string> directories)
    {
        foreach (string dir in directories)
        {
            string path = dir.EndsWith('/') ? dir + needed : dir + "/" + needed;
            if (IsCandidate(path, requester))
            {
                return path;
            }
        }

        return null;
    }

    private bool IsCandidate(string path, ElfDynamicInfo requester)
    {
        if (!path.StartsWith('/') || _tree.TryResolve(path) is not { } hit || hit.Info.Type != UnixFileType.RegularFile)
        {
            return false;
        }

        if (_done.TryGetValue(hit.Path, out ElfDynamicInfo? known) && known is not null)
        {
            return known.IsCompatibleWith(requester);
        }

        using Stream s = _tree.Guest.OpenFile("/" + hit.Path, FileMode.Open, FileAccess.Read);
        Span<byte> magic = stackalloc byte[4];
        if (s.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || !ElfDynamicInfo.HasMagic(magic))
        {
            return false;
        }

        try
        {
            return ElfDynamicInfo.Read(s).IsCompatibleWith(requester);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"'{path}': {e.Message}", e);
        }
    }

    private static List<string> Expand(string searchPath, LoaderChain owner)
    {
        var result = new List<string>();
        foreach (string raw in searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string dir = raw
                .Replace("${ORIGIN}", owner.Origin, StringComparison.Ordinal)
                .Replace("$ORIGIN", owner.Origin, StringComparison.Ordinal)
                .Replace("${LIB}", Lib(owner.Info), StringComparison.Ordinal)
                .Replace("$LIB", Lib(owner.Info), StringComparison.Ordinal)
                .Replace("${PLATFORM}", Platform(owner.Info), StringComparison.Ordinal)
                .Replace("$PLATFORM", Platform(owner.Info), StringComparison.Ordinal);
            if (dir.StartsWith('/'))
            {
                result.Add(dir);
            }
        }

        return result;
    }

    private List<string> ConfigDirectories()
    {
        if (_configDirectories is null)
        {
            _configDirectories = [];
            ReadConfig("/etc/ld.so.conf", 0);
        }

        return _configDirectories;
    }

    private void ReadConfig(string path, int depth)
    {
        if (depth > MaxIncludeDepth || _tree.TryResolve(path) is not { } hit || hit.Info.Type != UnixFileType.RegularFile || hit.Info.Size > 1 << 20)
        {
            return;
        }

        string text;
        using (var reader = new StreamReader(_tree.Guest.OpenFile("/" + hit.Path, FileMode.Open, FileAccess.Read)))
        {
            text = reader.ReadToEnd();
        }

        foreach (string rawLine in text.Split('\n'))
        {
            string line = rawLine;
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            line = line.Trim();
            if (line.Length == 0 || line.StartsWith("hwcap ", StringComparison.Ordinal))
            {
                continue;
            }

            if (line.StartsWith("include", StringComparison.Ordinal) && line.Length > 7 && char.IsWhiteSpace(line[7]))
            {
                foreach (string pattern in line[8..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    string absolute = pattern.StartsWith('/') ? pattern : Directory(path) + "/" + pattern;
                    foreach (string included in Glob(absolute))
                    {
                        ReadConfig(included, depth + 1);
                    }
                }

                continue;
            }

            foreach (string dir in line.Split([' ', '\t', ':', ','], StringSplitOptions.RemoveEmptyEntries))
            {
                string d = dir.Contains('=', StringComparison.Ordinal) ? dir[..dir.IndexOf('=', StringComparison.Ordinal)] : dir;
                if (d.StartsWith('/') && !_configDirectories!.Contains(d))
                {
                    _configDirectories.Add(d);
                }
            }
        }
    }

    /// <summary>Expands a pattern whose last component may hold <c>*</c> and <c>?</c>, sorted as glob(3) sorts.</summary>
    private List<string> Glob(string pattern)
    {
        string dir = Directory(pattern);
        string name = pattern[(pattern.LastIndexOf('/') + 1)..];
        var result = new List<string>();
        if (name.IndexOfAny(['*', '?', '[']) < 0)
        {
            result.Add(pattern);
            return result;
        }

        if (_tree.TryResolve(dir.Length == 0 ? "/" : dir) is not { } hit || !hit.Info.IsDirectory)
        {
            return result;
        }

        foreach (UnixFileInfo entry in _tree.Guest.EnumerateDirectory(hit.Path.Length == 0 ? "/" : "/" + hit.Path))
        {
            if (!entry.Name.StartsWith('.') && GlobMatcher.Matches(name, entry.Name))
            {
                result.Add(dir + "/" + entry.Name);
            }
        }

        result.Sort(StringComparer.Ordinal);
        return result;
    }

    private static IEnumerable<string> SystemDirectories(ElfDynamicInfo info)
    {
        if (Triplet(info) is { } triplet)
        {
            yield return "/lib/" + triplet;
            yield return "/usr/lib/" + triplet;
        }

        if (info.Is64Bit)
        {
            yield return "/lib64";
            yield return "/usr/lib64";
        }

        yield return "/lib";
        yield return "/usr/lib";
    }

    private static string? Triplet(ElfDynamicInfo info) => info.Machine switch
    {
        62 => "x86_64-linux-gnu",
        3 => "i386-linux-gnu",
        183 => "aarch64-linux-gnu",
        40 => "arm-linux-gnueabihf",
        21 when !info.IsBigEndian => "powerpc64le-linux-gnu",
        22 => "s390x-linux-gnu",
        243 => "riscv64-linux-gnu",
        _ => null,
    };

    private static string Lib(ElfDynamicInfo info) => info.Is64Bit ? "lib64" : "lib";

    private static string Platform(ElfDynamicInfo info) => info.Machine switch
    {
        62 => "x86_64",
        3 => "i686",
        183 => "aarch64",
        _ => "unknown",
    };

    private static string Directory(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? string.Empty : path[..slash];
    }

    /// <summary>An object and the objects that loaded it, for <c>DT_RPATH</c> inheritance and <c>$ORIGIN</c>.</summary>
    private sealed record LoaderChain(ElfDynamicInfo Info, string Origin, LoaderChain? Loader);
}
