using System.Text;
using DiskImage.FileSystems;

namespace DiskImage.Security;

/// <summary>
/// A guest's SELinux file-context configuration, read from its own files, answering "which label does
/// this path get" exactly as libselinux's <c>selabel_lookup</c> (and so <c>setfiles</c>, <c>restorecon</c>
/// and <c>matchpathcon</c>) answers it.
/// </summary>
/// <remarks>
/// <para><b>Files.</b> <c>/etc/selinux/config</c> gives <c>SELINUX=</c> and <c>SELINUXTYPE=</c> (default
/// <c>targeted</c>); the specs come from <c>/etc/selinux/TYPE/contexts/files/file_contexts</c>, then
/// <c>file_contexts.homedirs</c>, then <c>file_contexts.local</c> (each optional but the first), and the path
/// aliases from <c>file_contexts.subs</c> and <c>file_contexts.subs_dist</c>. Only the text forms are read:
/// a policy that ships only compiled <c>.bin</c> files is refused with <see cref="NotSupportedException"/>.</para>
/// <para><b>Lookup</b> (libselinux 3.x <c>label_file.c</c>): runs of '/' are collapsed and one trailing '/'
/// dropped; the <c>.subs</c> aliases are applied, then the <c>.subs_dist</c> aliases to the result; specs whose
/// regex has no metacharacter (<c>. ^ $ ? * + | [ ( {</c>) are moved after all others, keeping file order within
/// each group; the last spec in that order whose file type (if any) equals the entry's, whose plain first path
/// component (the "stem", if any) equals the path's, and whose regex matches the whole path wins. A winning
/// <c>&lt;&lt;none&gt;&gt;</c> means the path gets no label. Regexes are PCRE2 with <c>.</c> matching newline,
/// matched against the path's bytes; see <c>docs/selinux.md</c> for the translation to .NET.</para>
/// <para>Instances are immutable and safe to use from several threads.</para>
/// </remarks>
public sealed class SelinuxPolicy
{
    /// <summary>Where the guest's SELinux configuration lives.</summary>
    public const string ConfigPath = "/etc/selinux/config";

    /// <summary>The context value that means "no label".</summary>
    public const string NoneContext = "<<none>>";

    // SELINUX_MAGIC_COMPILED_FCONTEXT (0xf97cff8a) as the first four bytes of a compiled file.
    private static readonly byte[] CompiledMagic = [0x8a, 0xff, 0x7c, 0xf9];

    private readonly SelinuxFileContextSpec[] _specs;
    private readonly Dictionary<string, int> _stems;
    private readonly int[][] _candidatesByStem;
    private readonly int[] _candidatesWithoutStem;
    private readonly SelinuxSubstitutions _subs;
    private readonly SelinuxSubstitutions _distSubs;

    private SelinuxPolicy(string fileContextsPath, SelinuxMode mode, string policyType, List<SelinuxFileContextSpec> specs, Dictionary<string, int> stems, SelinuxSubstitutions subs, SelinuxSubstitutions distSubs)
    {
        FileContextsPath = fileContextsPath;
        Mode = mode;
        PolicyType = policyType;
        _stems = stems;
        _subs = subs;
        _distSubs = distSubs;

        // sort_specs: specs with metacharacters first, then the exact paths, each group in file order.
        var sorted = new List<SelinuxFileContextSpec>(specs.Count);
        foreach (SelinuxFileContextSpec spec in specs)
        {
            if (spec.HasMetaChars)
            {
                sorted.Add(spec);
            }
        }

        foreach (SelinuxFileContextSpec spec in specs)
        {
            if (!spec.HasMetaChars)
            {
                sorted.Add(spec);
            }
        }

        _specs = [.. sorted];

        // For each path stem, the specs that can apply (that stem or none), in sorted order.
        var byStem = new List<int>[stems.Count];
        var without = new List<int>();
        for (int s = 0; s < byStem.Length; s++)
        {
            byStem[s] = [];
        }

        for (int i = 0; i < _specs.Length; i++)
        {
            int stem = _specs[i].StemId;
            if (stem < 0)
            {
                without.Add(i);
                foreach (List<int> list in byStem)
                {
                    list.Add(i);
                }
            }
            else
            {
                byStem[stem].Add(i);
            }
        }

        _candidatesByStem = new int[byStem.Length][];
        for (int s = 0; s < byStem.Length; s++)
        {
            _candidatesByStem[s] = [.. byStem[s]];
        }

        _candidatesWithoutStem = [.. without];
    }

    /// <summary>The <c>file_contexts</c> path the specs were read from.</summary>
    public string FileContextsPath { get; }

    /// <summary>The <c>SELINUX=</c> setting (<see cref="SelinuxMode.Unspecified"/> when loaded from an explicit path).</summary>
    public SelinuxMode Mode { get; }

    /// <summary>The policy name (<c>SELINUXTYPE=</c>, e.g. <c>targeted</c> or <c>default</c>).</summary>
    public string PolicyType { get; }

    /// <summary>Number of specs read from the base, homedirs and local files together.</summary>
    public int SpecCount => _specs.Length;

    /// <summary>
    /// Reads the guest's SELinux configuration and file contexts. Returns null when the guest has no
    /// <c>/etc/selinux/config</c> or it says <c>SELINUX=disabled</c>: nothing needs a label then.
    /// </summary>
    /// <exception cref="InvalidDataException">The config names a policy whose <c>file_contexts</c> is missing, or a
    /// policy file is malformed (the message names the file and line).</exception>
    /// <exception cref="NotSupportedException">The policy has only compiled (<c>.bin</c>) file contexts.</exception>
    public static SelinuxPolicy? TryLoad(IFileSystem guest)
    {
        ArgumentNullException.ThrowIfNull(guest);
        string? config = ReadTextOrNull(guest, ConfigPath);
        if (config is null)
        {
            return null;
        }

        (SelinuxMode mode, string type) = ParseConfig(config);
        if (mode == SelinuxMode.Disabled)
        {
            return null;
        }

        string path = $"/etc/selinux/{type}/contexts/files/file_contexts";
        if (!guest.Exists(path) && !guest.Exists(path + ".bin"))
        {
            throw new InvalidDataException($"{ConfigPath} selects the SELinux policy '{type}', but {path} does not exist.");
        }

        return Load(guest, path, mode, type);
    }

    /// <summary>
    /// Reads the specs from <paramref name="fileContextsPath"/> and its <c>.homedirs</c>, <c>.local</c>,
    /// <c>.subs</c> and <c>.subs_dist</c> companions, as <c>matchpathcon -f</c> does.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither the file nor a compiled form of it exists.</exception>
    /// <exception cref="InvalidDataException">A line is malformed.</exception>
    /// <exception cref="NotSupportedException">Only a compiled form exists.</exception>
    public static SelinuxPolicy Load(IFileSystem fileSystem, string fileContextsPath)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentException.ThrowIfNullOrEmpty(fileContextsPath);
        return Load(fileSystem, fileContextsPath, SelinuxMode.Unspecified, string.Empty);
    }

    /// <summary>
    /// Finds the context for <paramref name="path"/> (absolute, as the guest sees it, with no symbolic links in its
    /// directories) and the entry's <paramref name="type"/>. Returns false when no spec matches or the winning spec
    /// says <c>&lt;&lt;none&gt;&gt;</c>.
    /// </summary>
    /// <exception cref="NotSupportedException">A spec that had to be tried uses a regex construct .NET cannot express.</exception>
    /// <exception cref="InvalidDataException">A spec that had to be tried has an invalid regex.</exception>
    public bool TryGetLabel(string path, UnixFileType type, out string context)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string key = Normalize(ToByteString(path));
        key = ApplySubstitutions(key);

        int[] candidates = _candidatesWithoutStem;
        int stemLength = StemLength(key);
        if (stemLength > 0 && _stems.TryGetValue(key[..stemLength], out int stemId))
        {
            candidates = _candidatesByStem[stemId];
        }

        for (int c = candidates.Length - 1; c >= 0; c--)
        {
            SelinuxFileContextSpec spec = _specs[candidates[c]];
            if (spec.Type is { } specType && specType != type)
            {
                continue;
            }

            if (!spec.IsMatch(key))
            {
                continue;
            }

            if (spec.Context == NoneContext)
            {
                break;
            }

            context = spec.Context;
            return true;
        }

        context = string.Empty;
        return false;
    }

    /// <summary>Compiles every regex now, so a spec .NET cannot express is reported before labelling starts.</summary>
    /// <exception cref="NotSupportedException">A regex uses a construct .NET cannot express.</exception>
    /// <exception cref="InvalidDataException">A regex is invalid.</exception>
    public void Validate()
    {
        foreach (SelinuxFileContextSpec spec in _specs)
        {
            spec.EnsureCompiled();
        }
    }

    internal static (SelinuxMode Mode, string Type) ParseConfig(string text)
    {
        SelinuxMode mode = SelinuxMode.Unspecified;
        bool modeFound = false;
        string type = "targeted";
        foreach (string rawLine in text.Split('\n'))
        {
            // SELINUX= is matched at the very start of a line, case-sensitively; the first recognised value wins.
            if (!modeFound && rawLine.StartsWith("SELINUX=", StringComparison.Ordinal))
            {
                ReadOnlySpan<char> value = rawLine.AsSpan(8).TrimStart(" \t\v\f\r");
                if (value.StartsWith("enforcing", StringComparison.OrdinalIgnoreCase))
                {
                    (mode, modeFound) = (SelinuxMode.Enforcing, true);
                }
                else if (value.StartsWith("permissive", StringComparison.OrdinalIgnoreCase))
                {
                    (mode, modeFound) = (SelinuxMode.Permissive, true);
                }
                else if (value.StartsWith("disabled", StringComparison.OrdinalIgnoreCase))
                {
                    (mode, modeFound) = (SelinuxMode.Disabled, true);
                }
            }

            // SELINUXTYPE= after leading white space, case-insensitively; the last one wins.
            ReadOnlySpan<char> line = rawLine.AsSpan().TrimStart(" \t\v\f\r");
            if (line.StartsWith("SELINUXTYPE=", StringComparison.OrdinalIgnoreCase))
            {
                ReadOnlySpan<char> value = line[12..].TrimStart(" \t\v\f\r");
                int end = value.Length;
                while (end > 1 && (char.IsWhiteSpace(value[end - 1]) || char.IsControl(value[end - 1])))
                {
                    end--;
                }

                type = value[..end].ToString();
            }
        }

        if (type.Length == 0 || type.Contains('/', StringComparison.Ordinal) || type is "." or "..")
        {
            throw new InvalidDataException($"{ConfigPath} names the SELinux policy '{type}', which is not a directory name.");
        }

        return (mode, type);
    }

    /// <summary>Paths become one char per byte, as PCRE sees them.</summary>
    internal static string ToByteString(string path) => Encoding.Latin1.GetString(UnixPathEncoding.GetBytes(path));

    private static SelinuxPolicy Load(IFileSystem fs, string path, SelinuxMode mode, string type)
    {
        var specs = new List<SelinuxFileContextSpec>();
        var stems = new Dictionary<string, int>(StringComparer.Ordinal);
        string? text = ReadSpecFile(fs, path);
        if (text is null)
        {
            throw new FileNotFoundException($"The SELinux file contexts {path} do not exist.", path);
        }

        ParseSpecs(text, path, specs, stems);
        foreach (string suffix in (string[])[".homedirs", ".local"])
        {
            string? extra = ReadSpecFile(fs, path + suffix);
            if (extra is not null)
            {
                ParseSpecs(extra, path + suffix, specs, stems);
            }
        }

        string? subs = ReadTextOrNull(fs, path + ".subs");
        string? distSubs = ReadTextOrNull(fs, path + ".subs_dist");
        return new SelinuxPolicy(
            path,
            mode,
            type,
            specs,
            stems,
            subs is null ? SelinuxSubstitutions.Empty : SelinuxSubstitutions.Parse(subs),
            distSubs is null ? SelinuxSubstitutions.Empty : SelinuxSubstitutions.Parse(distSubs));
    }

    private static string? ReadSpecFile(IFileSystem fs, string path)
    {
        byte[]? bytes = ReadBytesOrNull(fs, path);
        if (bytes is null)
        {
            if (fs.Exists(path + ".bin"))
            {
                throw new NotSupportedException($"Only the compiled form {path}.bin exists; compiled file contexts are not read (the text {path} is needed).");
            }

            return null;
        }

        if (bytes.AsSpan().StartsWith(CompiledMagic))
        {
            throw new NotSupportedException($"{path} is a compiled (binary) file-contexts file; only the text form is read.");
        }

        return Encoding.Latin1.GetString(bytes);
    }

    private static string? ReadTextOrNull(IFileSystem fs, string path)
    {
        byte[]? bytes = ReadBytesOrNull(fs, path);
        return bytes is null ? null : Encoding.Latin1.GetString(bytes);
    }

    private static byte[]? ReadBytesOrNull(IFileSystem fs, string path)
    {
        try
        {
            using Stream stream = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            return buffer.ToArray();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static void ParseSpecs(string text, string path, List<SelinuxFileContextSpec> specs, Dictionary<string, int> stems)
    {
        string[] lines = text.Split('\n');
        int count = text.EndsWith('\n') ? lines.Length - 1 : lines.Length;
        Span<Range> fields = stackalloc Range[3];
        for (int n = 0; n < count; n++)
        {
            string line = lines[n];
            int items = SplitFields(line, fields, out bool nonAscii);
            if (nonAscii)
            {
                throw new InvalidDataException($"{path}:{n + 1}: non-ASCII characters found.");
            }

            if (items == 0)
            {
                continue;
            }

            if (items == 1)
            {
                throw new InvalidDataException($"{path}:{n + 1}: the line is missing fields.");
            }

            string pattern = line[fields[0]];
            UnixFileType? type = null;
            string context = line[fields[items - 1]];
            if (items == 3)
            {
                string typeText = line[fields[1]];
                type = ParseType(typeText) ?? throw new InvalidDataException($"{path}:{n + 1}: invalid file type '{typeText}'.");
            }

            int stem = -1;
            int stemLength = SpecStemLength(pattern);
            if (stemLength > 0)
            {
                string stemText = pattern[..stemLength];
                if (!stems.TryGetValue(stemText, out stem))
                {
                    stem = stems.Count;
                    stems.Add(stemText, stem);
                }
            }

            specs.Add(new SelinuxFileContextSpec(pattern, type, context, $"{path}:{n + 1}", stem));
        }
    }

    /// <summary>Splits up to three white-space-separated fields; a '#' first (after blanks) makes a comment.</summary>
    private static int SplitFields(string line, Span<Range> fields, out bool nonAscii)
    {
        nonAscii = false;
        int i = 0;
        while (i < line.Length && SelinuxSubstitutions.IsSpace(line[i]))
        {
            i++;
        }

        if (i == line.Length || line[i] == '#')
        {
            return 0;
        }

        int items = 0;
        while (items < fields.Length && i < line.Length)
        {
            while (i < line.Length && SelinuxSubstitutions.IsSpace(line[i]))
            {
                i++;
            }

            int start = i;
            while (i < line.Length && !SelinuxSubstitutions.IsSpace(line[i]))
            {
                if (line[i] > 0x7f)
                {
                    nonAscii = true;
                    return 0;
                }

                i++;
            }

            if (i > start)
            {
                fields[items++] = new Range(start, i);
            }
        }

        return items;
    }

    private static UnixFileType? ParseType(string text) => text.Length != 2 || text[0] != '-' ? null : text[1] switch
    {
        'b' => UnixFileType.BlockDevice,
        'c' => UnixFileType.CharacterDevice,
        'd' => UnixFileType.Directory,
        'p' => UnixFileType.Fifo,
        'l' => UnixFileType.SymbolicLink,
        's' => UnixFileType.Socket,
        '-' => UnixFileType.RegularFile,
        _ => null,
    };

    /// <summary>libselinux's <c>get_stem_from_spec</c>: up to the second '/', when that part has no metacharacter.</summary>
    private static int SpecStemLength(string pattern)
    {
        int slash = pattern.Length > 1 ? pattern.IndexOf('/', 1) : -1;
        if (slash < 0)
        {
            return 0;
        }

        return pattern.AsSpan(0, slash).IndexOfAny(".^$?*+|[({") >= 0 ? 0 : slash;
    }

    /// <summary>libselinux's <c>get_stem_from_file_name</c>: up to the second '/'.</summary>
    private static int StemLength(string key)
    {
        int slash = key.Length > 1 ? key.IndexOf('/', 1) : -1;
        return slash < 0 ? 0 : slash;
    }

    /// <summary>Collapses runs of '/' and drops one trailing '/' (not from "/").</summary>
    private static string Normalize(string key)
    {
        if (key.Contains("//", StringComparison.Ordinal))
        {
            var sb = new StringBuilder(key.Length);
            for (int i = 0; i < key.Length; i++)
            {
                if (key[i] == '/' && i + 1 < key.Length && key[i + 1] == '/')
                {
                    continue;
                }

                sb.Append(key[i]);
            }

            key = sb.ToString();
        }

        return key.Length > 1 && key[^1] == '/' ? key[..^1] : key;
    }

    private string ApplySubstitutions(string key)
    {
        string? local = _subs.Apply(key);
        if (local is not null)
        {
            return _distSubs.Apply(local) ?? local;
        }

        return _distSubs.Apply(key) ?? key;
    }
}
