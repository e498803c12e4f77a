using DiskImage.FileSystems;
using DiskImage.Guests;

namespace DiskImage.Archives.Cpio;

/// <summary>
/// Adds kernel modules of the guest to a <see cref="GuestRamdiskTree"/>: names (or aliases) resolved with the
/// guest's <c>/lib/modules/VERSION/modules.dep</c> and <c>modules.alias</c>, with every module they depend on
/// (transitively) and the <c>pre:</c>/<c>post:</c> soft dependencies of <c>modules.softdep</c> that exist; modules
/// built into the kernel (<c>modules.builtin</c>) are skipped. The version directory's index files are copied as
/// they are, so <c>modprobe</c> (kmod or busybox) in the ramdisk finds the modules that were included.
/// </summary>
internal sealed class GuestModuleResolver
{
    private static readonly string[] IndexFiles =
    [
        "modules.dep", "modules.dep.bin", "modules.alias", "modules.alias.bin", "modules.softdep", "modules.symbols",
        "modules.symbols.bin", "modules.builtin", "modules.builtin.bin", "modules.builtin.alias.bin",
        "modules.builtin.modinfo", "modules.order", "modules.devname",
    ];

    private static readonly string[] ModuleSuffixes = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

    private readonly GuestRamdiskTree _tree;
    private readonly string _directory;
    private readonly Dictionary<string, (string Path, string[] Dependencies)> _byName = new(StringComparer.Ordinal);
    private readonly HashSet<string> _builtin = new(StringComparer.Ordinal);
    private readonly List<(string Pattern, string Module)> _aliases = [];
    private readonly Dictionary<string, List<string>> _softdeps = new(StringComparer.Ordinal);
    private readonly HashSet<string> _added = new(StringComparer.Ordinal);

    private GuestModuleResolver(GuestRamdiskTree tree, string version)
    {
        _tree = tree;
        KernelVersion = version;
        _directory = "/lib/modules/" + version;
    }

    /// <summary>The kernel version whose modules are used.</summary>
    public string KernelVersion { get; }

    /// <summary>The module names added (normalized: '-' as '_').</summary>
    public IReadOnlyCollection<string> Added => _added;

    /// <summary>Opens the modules of <paramref name="version"/>, or of the newest version under <c>/lib/modules</c> that has a <c>modules.dep</c>.</summary>
    /// <exception cref="FileNotFoundException">No such version, or no modules.dep.</exception>
    public static GuestModuleResolver Open(GuestRamdiskTree tree, string? version)
    {
        if (version is null)
        {
            var versions = new List<string>();
            if (tree.TryResolve("/lib/modules") is { } dir && dir.Info.IsDirectory)
            {
                foreach (UnixFileInfo entry in tree.Guest.EnumerateDirectory("/" + dir.Path))
                {
                    if (tree.TryResolve("/lib/modules/" + entry.Name + "/modules.dep") is { } dep && dep.Info.Type == UnixFileType.RegularFile)
                    {
                        versions.Add(entry.Name);
                    }
                }
            }

            if (versions.Count == 0)
            {
                throw new FileNotFoundException("The guest has no /lib/modules/VERSION/modules.dep, so no kernel modules can be resolved.");
            }

            versions.Sort(GuestVersionComparer.Instance);
            version = versions[^1];
        }
        else if (version.Length == 0 || version.Contains('/', StringComparison.Ordinal) || version is "." or "..")
        {
            throw new ArgumentException($"'{version}' is not a kernel version.", nameof(version));
        }

        var resolver = new GuestModuleResolver(tree, version);
        resolver.Load();
        return resolver;
    }

    /// <summary>Adds the module <paramref name="name"/> (a module name or an alias) and its dependencies.</summary>
    /// <exception cref="FileNotFoundException">No module or alias of that name, and it is not built in.</exception>
    public void Add(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        string normalized = Normalize(name);
        if (_byName.ContainsKey(normalized))
        {
            AddModule(normalized, cancellationToken);
            return;
        }

        if (_builtin.Contains(normalized))
        {
            return;
        }

        bool any = false;
        foreach (string module in AliasTargets(name))
        {
            AddModule(module, cancellationToken);
            any = true;
        }

        if (!any)
        {
            throw new FileNotFoundException($"Kernel module '{name}' is neither a module nor an alias in {_directory}/modules.dep or modules.alias, nor built in.", name);
        }
    }

    /// <summary>Copies the version's index files (those that exist) so module tools work in the ramdisk.</summary>
    public void AddIndexFiles()
    {
        foreach (string file in IndexFiles)
        {
            string path = _directory + "/" + file;
            if (_tree.TryResolve(path) is { } hit && hit.Info.Type == UnixFileType.RegularFile)
            {
                _tree.AddGuestPath(path);
            }
        }
    }

    private void AddModule(string name, CancellationToken cancellationToken)
    {
        var pending = new Stack<string>();
        pending.Push(name);
        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string module = pending.Pop();
            if (!_added.Add(module))
            {
                continue;
            }

            (string path, string[] deps) = _byName[module];
            _tree.AddGuestPath(_directory + "/" + path);
            foreach (string dep in deps)
            {
                pending.Push(NameOf(dep));
            }

            if (_softdeps.TryGetValue(module, out List<string>? soft))
            {
                foreach (string s in soft)
                {
                    if (_byName.ContainsKey(Normalize(s)))
                    {
                        pending.Push(Normalize(s));
                        continue;
                    }

                    // A soft dependency may name an alias (ext4's "pre: crc32c"): every module it names, as modprobe loads them.
                    foreach (string target in AliasTargets(s))
                    {
                        pending.Push(target);
                    }
                }
            }
        }
    }

    /// <summary>The modules (present in modules.dep) an alias names, in modules.alias order.</summary>
    private List<string> AliasTargets(string alias)
    {
        var result = new List<string>();
        foreach ((string pattern, string module) in _aliases)
        {
            if (GlobMatcher.Matches(pattern, alias) && _byName.ContainsKey(module) && !result.Contains(module))
            {
                result.Add(module);
            }
        }

        return result;
    }

    private void Load()
    {
        string dep = ReadText("modules.dep") ?? throw new FileNotFoundException($"The guest has no {_directory}/modules.dep.", _directory + "/modules.dep");
        foreach (string line in dep.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            string path = Relative(line[..colon].Trim());
            string[] deps = line[(colon + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < deps.Length; i++)
            {
                deps[i] = Relative(deps[i]);
            }

            _byName.TryAdd(NameOf(path), (path, deps));
        }

        foreach (string line in (ReadText("modules.builtin") ?? string.Empty).Split('\n'))
        {
            if (line.Trim().Length > 0)
            {
                _builtin.Add(NameOf(line.Trim()));
            }
        }

        foreach (string line in (ReadText("modules.alias") ?? string.Empty).Split('\n'))
        {
            string[] parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && parts[0] == "alias")
            {
                _aliases.Add((parts[1], Normalize(parts[2])));
            }
        }

        foreach (string line in (ReadText("modules.softdep") ?? string.Empty).Split('\n'))
        {
            string[] parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || parts[0] != "softdep")
            {
                continue;
            }

            var list = new List<string>();
            for (int i = 2; i < parts.Length; i++)
            {
                if (parts[i] is not ("pre:" or "post:"))
                {
                    list.Add(parts[i]);
                }
            }

            _softdeps[Normalize(parts[1])] = list;
        }
    }

    /// <summary>A modules.dep path relative to the version directory (old depmod wrote absolute ones under it).</summary>
    private string Relative(string path)
    {
        string prefix = _directory + "/";
        if (path.StartsWith(prefix, StringComparison.Ordinal))
        {
            path = path[prefix.Length..];
        }

        if (path.Length == 0 || path.StartsWith('/') || path.Split('/').Contains(".."))
        {
            throw new InvalidDataException($"{_directory}/modules.dep names '{path}', outside the modules directory.");
        }

        return path;
    }

    private string? ReadText(string file)
    {
        if (_tree.TryResolve(_directory + "/" + file) is not { } hit || hit.Info.Type != UnixFileType.RegularFile)
        {
            return null;
        }

        if (hit.Info.Size > 256 << 20)
        {
            throw new InvalidDataException($"{_directory}/{file} is larger than 256 MiB.");
        }

        using var reader = new StreamReader(_tree.Guest.OpenFile("/" + hit.Path, FileMode.Open, FileAccess.Read));
        return reader.ReadToEnd();
    }

    /// <summary>The module name of a module file path: the file name without its suffix, '-' as '_'.</summary>
    internal static string NameOf(string path)
    {
        string name = path[(path.LastIndexOf('/') + 1)..];
        foreach (string suffix in ModuleSuffixes)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                name = name[..^suffix.Length];
                break;
            }
        }

        return Normalize(name);
    }

    private static string Normalize(string name) => name.Replace('-', '_');
}
