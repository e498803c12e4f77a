namespace DiskImage.Sysprep;

/// <summary>
/// A set of operations, built with virt-sysprep's <c>--operations</c> and <c>--enable</c> semantics. Keywords:
/// <c>defaults</c> (virt-sysprep's default set), <c>all</c> (every operation), <c>extras</c> (DiskImage's extra
/// operations); a leading '-' removes a name or keyword.
/// </summary>
public sealed class SysprepSelection
{
    private readonly HashSet<string> _names;

    private SysprepSelection(HashSet<string> names)
    {
        _names = names;
    }

    /// <summary>The default set (what <c>virt-sysprep</c> runs without <c>--operations</c>).</summary>
    public static SysprepSelection Defaults => new(NamesWhere(op => op.EnabledByDefault));

    /// <summary>No operation.</summary>
    public static SysprepSelection None => new([]);

    /// <summary>The selected names.</summary>
    public IReadOnlySet<string> Names => _names;

    /// <summary>Whether <paramref name="name"/> is selected.</summary>
    public bool Contains(string name) => _names.Contains(name);

    /// <summary>
    /// <c>--operations</c>: starting from <paramref name="current"/> (null: from nothing, as the first
    /// <c>--operations</c> does), adds or ('-' prefix) removes each comma-separated name or keyword.
    /// </summary>
    /// <exception cref="ArgumentException">An empty name, or a name that is not an operation or keyword.</exception>
    public static SysprepSelection ParseOperations(string operations, SysprepSelection? current = null)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var names = current is null ? new HashSet<string>(StringComparer.Ordinal) : new HashSet<string>(current._names, StringComparer.Ordinal);
        foreach (string item in operations.Split(','))
        {
            bool remove = item.StartsWith('-');
            string name = remove ? item[1..] : item;
            HashSet<string> affected = name switch
            {
                "" => throw new ArgumentException("--operations: empty operation name", nameof(operations)),
                "defaults" => NamesWhere(op => op.EnabledByDefault),
                "all" => NamesWhere(_ => true),
                "extras" => NamesWhere(op => op.IsExtra),
                _ when SysprepOperations.Find(name) is not null => [name],
                _ => throw new ArgumentException($"--operations: '{name}' is not a known operation", nameof(operations)),
            };

            if (remove)
            {
                names.ExceptWith(affected);
            }
            else
            {
                names.UnionWith(affected);
            }
        }

        return new SysprepSelection(names);
    }

    /// <summary><c>--enable</c>: exactly the comma-separated operations named (no keywords).</summary>
    /// <exception cref="ArgumentException">The list is empty or names an unknown operation.</exception>
    public static SysprepSelection Enable(string operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Length == 0)
        {
            throw new ArgumentException("you cannot pass an empty argument to --enable", nameof(operations));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in operations.Split(','))
        {
            if (SysprepOperations.Find(name) is null)
            {
                throw new ArgumentException($"--enable: '{name}' is not a known operation", nameof(operations));
            }

            names.Add(name);
        }

        return new SysprepSelection(names);
    }

    /// <summary>The selected operations in the order they run: by name, with <c>machine-id</c> last.</summary>
    public IReadOnlyList<SysprepOperation> GetOperations()
    {
        var list = new List<SysprepOperation>();
        SysprepOperation? machineId = null;
        foreach (SysprepOperation op in SysprepOperations.All)
        {
            if (!_names.Contains(op.Name))
            {
                continue;
            }

            if (op.Name == "machine-id")
            {
                machineId = op;
            }
            else
            {
                list.Add(op);
            }
        }

        if (machineId is not null)
        {
            list.Add(machineId);
        }

        return list;
    }

    private static HashSet<string> NamesWhere(Func<SysprepOperation, bool> predicate)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (SysprepOperation op in SysprepOperations.All)
        {
            if (predicate(op))
            {
                names.Add(op.Name);
            }
        }

        return names;
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var sorted = new List<string>(_names);
        sorted.Sort(StringComparer.Ordinal);
        return string.Join(',', sorted);
    }
}
