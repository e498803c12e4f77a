using System.Buffers.Binary;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// One directory held in memory: its 32-byte slots (the FAT12/16 root region or a cluster chain), the
/// entries parsed from them (VFAT long names checked by ordinal and checksum; orphan long-name slots are
/// ignored like Linux does), and the slot-level changes, written through to the device.
/// </summary>
internal sealed class FatDirectory
{
    /// <summary>Most slots a directory may have (fatgen103 §6: 65,536 entries, 2 MiB).</summary>
    public const int MaxSlots = 65536;

    private readonly FatVolume _volume;
    private readonly List<uint> _chain = [];
    private readonly Dictionary<string, FatDirectoryEntry> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, FatDirectoryEntry> _byAlias = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _shortNames = new(StringComparer.Ordinal);
    private byte[] _data = [];

    private FatDirectory(FatVolume volume, uint key)
    {
        _volume = volume;
        Key = key;
    }

    /// <summary>First cluster of the directory; 0 for the FAT12/16 root.</summary>
    public uint Key { get; }

    /// <summary>Whether this is the fixed-size FAT12/16 root directory.</summary>
    public bool IsFixedRoot => Key == 0;

    /// <summary>The entries, in slot order, without ".", "..", the volume label and deleted slots.</summary>
    public List<FatDirectoryEntry> Entries { get; } = [];

    /// <summary>The volume label entry's name (root only), or null.</summary>
    public string? VolumeLabel { get; private set; }

    /// <summary>Size of the directory in bytes (its clusters, or the FAT12/16 root region).</summary>
    public long ByteLength => _data.Length;

    /// <summary>Number of subdirectories.</summary>
    public int SubdirectoryCount { get; private set; }

    /// <summary>Reads the directory whose first cluster is <paramref name="key"/> (0: the FAT12/16 root).</summary>
    public static FatDirectory Load(FatVolume volume, uint key)
    {
        var d = new FatDirectory(volume, key);
        FatBootSector boot = volume.Boot;
        if (key == 0)
        {
            d._data = new byte[boot.RootEntries * 32];
            volume.Device.ReadExactly(boot.RootDirectoryOffset, d._data);
        }
        else
        {
            long maxClusters = ((long)MaxSlots * 32 + boot.ClusterSize - 1) / boot.ClusterSize;
            volume.Table.ReadChain(key, d._chain, maxClusters, $"directory at cluster {key}");
            d._data = new byte[(long)d._chain.Count * boot.ClusterSize];
            volume.Read(d._chain, 0, d._data);
        }

        d.Parse();
        return d;
    }

    /// <summary>Looks a name up (case-insensitively, by long or short name).</summary>
    public FatDirectoryEntry? Find(string name) => _byName.GetValueOrDefault(name) ?? _byAlias.GetValueOrDefault(name);

    /// <summary>Whether an 11-byte short name is in use.</summary>
    public bool ShortNameTaken(byte[] shortName) => _shortNames.Contains(Convert.ToHexString(shortName));

    /// <summary>
    /// Adds an entry named <paramref name="name"/> with the fields of <paramref name="template"/> (its short name is
    /// chosen here), growing the directory when no run of free slots is long enough.
    /// </summary>
    /// <exception cref="IOException">The FAT12/16 root directory is full, or the directory reached 65,536 slots.</exception>
    public FatDirectoryEntry Add(string name, FatDirectoryEntry template)
    {
        (byte[] sfn, byte nt, bool needsLong) = FatNames.CreateShortName(name, ShortNameTaken);
        int longSlots = needsLong ? (name.Length + 12) / 13 : 0;
        int count = longSlots + 1;
        int start = FindFree(count);
        while (start < 0)
        {
            Grow();
            start = FindFree(count);
        }

        byte sum = FatNames.Checksum(sfn);
        for (int i = 0; i < longSlots; i++)
        {
            int ord = longSlots - i;
            Span<byte> e = _data.AsSpan((start + i) * 32, 32);
            e.Clear();
            e[0] = (byte)(ord | (i == 0 ? 0x40 : 0));
            e[11] = 0x0F;
            e[13] = sum;
            for (int k = 0; k < 13; k++)
            {
                int ci = ((ord - 1) * 13) + k;
                ushort ch = ci < name.Length ? name[ci] : ci == name.Length ? (ushort)0 : (ushort)0xFFFF;
                int off = k < 5 ? 1 + (k * 2) : k < 11 ? 14 + ((k - 5) * 2) : 28 + ((k - 11) * 2);
                BinaryPrimitives.WriteUInt16LittleEndian(e[off..], ch);
            }
        }

        var entry = new FatDirectoryEntry
        {
            Name = name,
            ShortName = FatNames.DecodeShortName(sfn, 0),
            RawShortName = sfn,
            Slot = start + longSlots,
            LongNameSlots = longSlots,
            Attributes = template.Attributes,
            NtCase = nt,
            CreationHundredths = template.CreationHundredths,
            CreationTime = template.CreationTime,
            CreationDate = template.CreationDate,
            AccessDate = template.AccessDate,
            WriteTime = template.WriteTime,
            WriteDate = template.WriteDate,
            FirstCluster = template.FirstCluster,
            Size = template.Size,
        };
        entry.WriteTo(_data.AsSpan(entry.Slot * 32, 32));
        WriteSlots(start, count);
        Parse();
        return Find(name)!;
    }

    /// <summary>Marks an entry's slots (long-name and short) deleted.</summary>
    public void Remove(FatDirectoryEntry entry)
    {
        int first = entry.Slot - entry.LongNameSlots;
        for (int i = first; i <= entry.Slot; i++)
        {
            _data[i * 32] = 0xE5;
        }

        WriteSlots(first, entry.LongNameSlots + 1);
        Parse();
    }

    /// <summary>Rewrites an entry's short slot from its fields.</summary>
    public void Update(FatDirectoryEntry entry)
    {
        entry.WriteTo(_data.AsSpan(entry.Slot * 32, 32));
        WriteSlots(entry.Slot, 1);
    }

    /// <summary>Writes the "." and ".." entries of a new directory (whose clusters are zeroed).</summary>
    public void WriteDotEntries(FatDirectoryEntry self, uint parentKey)
    {
        Span<byte> e = _data.AsSpan(0, 64);
        var dot = new FatDirectoryEntry
        {
            Name = ".",
            ShortName = ".",
            RawShortName = ".          "u8.ToArray(),
            Slot = 0,
            LongNameSlots = 0,
            Attributes = FatAttributes.Directory,
            CreationHundredths = self.CreationHundredths,
            CreationTime = self.CreationTime,
            CreationDate = self.CreationDate,
            AccessDate = self.AccessDate,
            WriteTime = self.WriteTime,
            WriteDate = self.WriteDate,
            FirstCluster = self.FirstCluster,
        };
        dot.WriteTo(e);
        dot.WriteTo(e[32..]);
        e[33] = (byte)'.';
        SetDotDot(parentKey);
        WriteSlots(0, 2);
    }

    /// <summary>Points ".." at <paramref name="parentKey"/> (0 for the root, on FAT32 too) after a move.</summary>
    public void SetDotDot(uint parentKey)
    {
        Span<byte> e = _data.AsSpan(32, 32);
        if (e[0] != '.' || e[1] != '.')
        {
            return;
        }

        e[..11].Fill((byte)' ');
        e[0] = e[1] = (byte)'.';
        BinaryPrimitives.WriteUInt16LittleEndian(e[20..], (ushort)(parentKey >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(e[26..], (ushort)parentKey);
        WriteSlots(1, 1);
    }

    /// <summary>The parent's key from the ".." entry (<paramref name="rootKey"/> when it says 0 or is missing).</summary>
    public uint ParentKeyFromDotDot(uint rootKey)
    {
        ReadOnlySpan<byte> e = _data.AsSpan(32, 32);
        if (_data.Length < 64 || e[0] != '.' || e[1] != '.')
        {
            return rootKey;
        }

        uint c = ((uint)BinaryPrimitives.ReadUInt16LittleEndian(e[20..]) << 16) | BinaryPrimitives.ReadUInt16LittleEndian(e[26..]);
        if (_volume.Boot.Type != FatType.Fat32)
        {
            c &= 0xFFFF;
        }

        return c == 0 ? rootKey : c;
    }

    /// <summary>Frees the clusters of the directory (it must be empty and already unlinked).</summary>
    public void Free() => _volume.Table.Truncate(_chain, 0);

    /// <summary>Creates the in-memory form of a new directory of one (already zeroed) cluster.</summary>
    public static FatDirectory CreateNew(FatVolume volume, uint cluster)
    {
        var d = new FatDirectory(volume, cluster);
        d._chain.Add(cluster);
        d._data = new byte[volume.Boot.ClusterSize];
        return d;
    }

    private int FindFree(int count)
    {
        int slots = _data.Length / 32;
        int run = 0;
        for (int i = 0; i < slots; i++)
        {
            byte b = _data[i * 32];
            if (b is 0 or 0xE5)
            {
                if (++run == count)
                {
                    return i - count + 1;
                }
            }
            else
            {
                run = 0;
            }
        }

        return -1;
    }

    private void Grow()
    {
        if (IsFixedRoot)
        {
            throw new IOException($"The FAT root directory is full ({_volume.Boot.RootEntries} entries; FAT12/16 roots cannot grow).");
        }

        int clusterSize = _volume.Boot.ClusterSize;
        if ((long)(_chain.Count + 1) * clusterSize > (long)MaxSlots * 32)
        {
            throw new IOException("The FAT directory is full (65,536 entries).");
        }

        _volume.Table.Allocate(1, _chain[^1], _chain);
        _volume.Zero(_chain, (long)(_chain.Count - 1) * clusterSize, clusterSize);
        Array.Resize(ref _data, _data.Length + clusterSize);
    }

    private void WriteSlots(int first, int count)
    {
        ReadOnlySpan<byte> bytes = _data.AsSpan(first * 32, count * 32);
        if (IsFixedRoot)
        {
            _volume.Device.Write(_volume.Boot.RootDirectoryOffset + (first * 32), bytes);
        }
        else
        {
            _volume.Write(_chain, first * 32L, bytes);
        }
    }

    private void Parse()
    {
        Entries.Clear();
        _byName.Clear();
        _byAlias.Clear();
        _shortNames.Clear();
        SubdirectoryCount = 0;
        bool fat32 = _volume.Boot.Type == FatType.Fat32;
        Span<char> name = stackalloc char[20 * 13];
        int expected = 0, total = 0, lfnStart = -1;
        byte sum = 0;
        int slots = _data.Length / 32;
        for (int i = 0; i < slots; i++)
        {
            ReadOnlySpan<byte> e = _data.AsSpan(i * 32, 32);
            if (e[0] == 0)
            {
                break;
            }

            if (e[0] == 0xE5)
            {
                expected = 0;
                continue;
            }

            if ((e[11] & 0x3F) == 0x0F)
            {
                int ord = e[0] & 0x1F;
                if ((e[0] & 0x40) != 0 && ord is >= 1 and <= 20)
                {
                    expected = total = ord;
                    sum = e[13];
                    lfnStart = i;
                    name[..(ord * 13)].Fill('\uFFFF');
                }
                else if (expected == 0 || ord != expected - 1 || e[13] != sum || (e[0] & 0x40) != 0)
                {
                    expected = 0;
                    continue;
                }

                expected = ord;
                for (int k = 0; k < 13; k++)
                {
                    int off = k < 5 ? 1 + (k * 2) : k < 11 ? 14 + ((k - 5) * 2) : 28 + ((k - 11) * 2);
                    name[((ord - 1) * 13) + k] = (char)BinaryPrimitives.ReadUInt16LittleEndian(e[off..]);
                }

                continue;
            }

            string? longName = null;
            if (expected == 1 && FatNames.Checksum(e) == sum)
            {
                int len = name[..(total * 13)].IndexOf('\0');
                len = len < 0 ? total * 13 : len;
                if (len > 0 && name[..len].IndexOfAny('\uFFFF', '/') < 0 && !name[..len].SequenceEqual(".") && !name[..len].SequenceEqual(".."))
                {
                    longName = new string(name[..len]);
                }
            }

            int longSlots = longName is null ? 0 : i - lfnStart;
            expected = 0;
            if ((e[11] & 0x08) != 0)
            {
                if (Key == 0 || Key == _volume.Boot.RootCluster)
                {
                    VolumeLabel ??= FatNames.DecodeLabel(e);
                }

                continue;
            }

            if (e[0] == '.' && (e[1] == ' ' || (e[1] == '.' && e[2] == ' ')))
            {
                continue;
            }

            if (!FatNames.IsDisplayableShortName(e))
            {
                continue; // control characters or '/' in the 8.3 name: no path can name it (fsck.fat renames such entries)
            }

            var entry = FatDirectoryEntry.Parse(e, longName, i, longSlots, fat32);
            _shortNames.Add(Convert.ToHexString(entry.RawShortName));
            if (!_byName.TryAdd(entry.Name, entry))
            {
                continue; // a duplicate name (a damaged or foreign directory): the first one wins, as in a lookup
            }

            _byAlias.TryAdd(entry.ShortName, entry);
            Entries.Add(entry);
            if (entry.IsDirectory)
            {
                SubdirectoryCount++;
            }
        }
    }
}
