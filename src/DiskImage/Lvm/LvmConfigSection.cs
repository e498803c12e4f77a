namespace DiskImage.Lvm;

/// <summary>
/// A section of LVM's config text (<c>name { ... }</c>, or the whole file): keys and subsections in the
/// order they were read, so what is not understood is written back unchanged.
/// </summary>
internal sealed class LvmConfigSection
{
    private readonly List<KeyValuePair<string, object>> _entries = [];
    private readonly Dictionary<string, object> _byKey = new(StringComparer.Ordinal);

    public LvmConfigSection(string name) => Name = name;

    /// <summary>The section name (empty for the file).</summary>
    public string Name { get; set; }

    /// <summary>The entries: values are <see cref="LvmConfigValue"/> or <see cref="LvmConfigSection"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, object>> Entries => _entries;

    /// <summary>The subsections in order.</summary>
    public IEnumerable<LvmConfigSection> Sections
    {
        get
        {
            foreach (KeyValuePair<string, object> e in _entries)
            {
                if (e.Value is LvmConfigSection s)
                {
                    yield return s;
                }
            }
        }
    }

    public bool ContainsKey(string key) => _byKey.ContainsKey(key);

    /// <summary>Adds an entry read from text.</summary>
    /// <exception cref="InvalidDataException">The key is there already.</exception>
    public void AddParsed(string key, object value, long offset)
    {
        if (!_byKey.TryAdd(key, value))
        {
            FormatError.Throw("LVM2 metadata text", offset, $"\"{key}\" appears twice in section \"{Name}\"");
        }

        _entries.Add(new(key, value));
    }

    public LvmConfigSection? GetSection(string key) => Find(key) as LvmConfigSection;

    public LvmConfigValue? GetValue(string key) => Find(key) as LvmConfigValue;

    /// <summary>Sets a value or section, replacing one of the same key in place or appending.</summary>
    public void Set(string key, object value)
    {
        _byKey[key] = value;
        int i = IndexOf(key);
        if (i >= 0)
        {
            _entries[i] = new(key, value);
        }
        else
        {
            _entries.Add(new(key, value));
        }
    }

    /// <summary>Inserts a value or section before the entry <paramref name="beforeKey"/> (appends when it is absent).</summary>
    public void InsertBefore(string beforeKey, string key, object value)
    {
        Remove(key);
        _byKey[key] = value;
        int i = IndexOf(beforeKey);
        _entries.Insert(i < 0 ? _entries.Count : i, new(key, value));
    }

    public bool Remove(string key)
    {
        int i = IndexOf(key);
        if (i < 0)
        {
            return false;
        }

        _entries.RemoveAt(i);
        _byKey.Remove(key);
        return true;
    }

    private object? Find(string key) => _byKey.TryGetValue(key, out object? v) ? v : null;

    private int IndexOf(string key)
    {
        for (int i = 0; i < _entries.Count; i++)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
