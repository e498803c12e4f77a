namespace DiskImage.FileSystems.Fat;

/// <summary>
/// The changes to a FAT tree: new files and directories (with "." and ".."), deletion with the clusters freed,
/// rename (moving a directory repoints its ".."), and updates of one directory entry's fields.
/// </summary>
internal sealed class FatEditor
{
    private readonly FatFileSystem _fs;
    private readonly FatVolume _volume;

    public FatEditor(FatFileSystem fs, FatVolume volume)
    {
        _fs = fs;
        _volume = volume;
    }

    /// <summary>Adds an entry named <paramref name="name"/> to the directory <paramref name="parentKey"/>, stamped now.</summary>
    public FatDirectoryEntry CreateEntry(uint parentKey, string name, string path, FatAttributes attributes, uint firstCluster)
    {
        FileSystemPath.ValidateNewName(name, path);
        FatNames.ValidateLongName(name);
        (ushort date, ushort time, byte hundredths) = FatTime.FromUnix(_fs.Now);
        var template = new FatDirectoryEntry
        {
            Name = name,
            ShortName = string.Empty,
            RawShortName = [],
            Slot = -1,
            LongNameSlots = 0,
            Attributes = attributes,
            CreationHundredths = hundredths,
            CreationTime = time,
            CreationDate = date,
            AccessDate = date,
            WriteTime = time,
            WriteDate = date,
            FirstCluster = firstCluster,
        };
        return _fs.Directory(parentKey).Add(name, template);
    }

    /// <summary>Creates a subdirectory of one zeroed cluster holding "." and "..".</summary>
    public void CreateDirectory(uint parentKey, string name, string path)
    {
        FileSystemPath.ValidateNewName(name, path);
        FatNames.ValidateLongName(name);
        var chain = new List<uint>(1);
        _volume.Table.Allocate(1, 0, chain);
        FatDirectoryEntry entry;
        try
        {
            _volume.Zero(chain, 0, _volume.Boot.ClusterSize);
            entry = CreateEntry(parentKey, name, path, FatAttributes.Directory, chain[0]);
        }
        catch
        {
            _volume.Table.Truncate(chain, 0);
            throw;
        }

        FatDirectory created = FatDirectory.CreateNew(_volume, chain[0]);
        created.WriteDotEntries(entry, DotDotKey(parentKey));
        _fs.CacheDirectory(chain[0], created);
    }

    /// <summary>Deletes a file (freeing its clusters) or an empty directory.</summary>
    public void Delete(FatNode node, string path)
    {
        FatDirectory parent = _fs.Directory(node.ParentKey);
        FatDirectoryEntry entry = node.Entry!;
        if (node.IsDirectory)
        {
            FatDirectory dir = _fs.Directory(node.Key);
            if (dir.Entries.Count != 0)
            {
                throw new IOException($"The directory '{path}' is not empty.");
            }

            parent.Remove(entry);
            dir.Free();
            _fs.CacheDirectory(node.Key, null);
            return;
        }

        var chain = new List<uint>();
        _volume.Table.ReadChain(entry.FirstCluster, chain, _volume.Boot.ClusterCount, $"'{path}'");
        parent.Remove(entry);
        _volume.Table.Truncate(chain, 0);
    }

    /// <summary>Moves an entry with POSIX rename semantics (a compatible destination is replaced).</summary>
    public void Rename(in ResolvedPath<FatNode> s, in ResolvedPath<FatNode> d, string sourcePath, string destinationPath)
    {
        FatNode source = s.Node!;
        bool isDirectory = source.IsDirectory;
        FatNames.ValidateLongName(d.Name);
        bool sameEntry = d.Node is not null && d.Node.ParentKey == source.ParentKey && d.Node.Entry!.Slot == source.Entry!.Slot;
        if (sameEntry && string.Equals(d.Name, source.Entry!.Name, StringComparison.Ordinal))
        {
            return;
        }

        if (isDirectory)
        {
            CheckNotInside(source.Key, d.Parent, sourcePath);
        }

        FileSystemWriteChecks.CheckRenameKinds(s, d, isDirectory, sameEntry ? null : d.Node?.IsDirectory, sourcePath, destinationPath);
        if (d.Node is not null && !sameEntry)
        {
            Delete(d.Node, destinationPath);
        }

        // The source's entry object may have been replaced if the deletion rewrote the same directory.
        FatDirectoryEntry old = Find(source.ParentKey, source.Entry!.Slot) ?? throw new InvalidOperationException("The source entry vanished.");
        _fs.Directory(d.Parent.Key).Add(d.Name, old);
        FatDirectory sourceDir = _fs.Directory(source.ParentKey);
        sourceDir.Remove(Find(source.ParentKey, old.Slot)!);
        if (isDirectory && d.Parent.Key != source.ParentKey)
        {
            _fs.Directory(source.Key).SetDotDot(DotDotKey(d.Parent.Key));
        }
    }

    /// <summary>Changes the fields of the entry in slot <paramref name="slot"/> of directory <paramref name="parentKey"/>.</summary>
    public void UpdateEntry(uint parentKey, int slot, Action<FatDirectoryEntry> change)
    {
        FatDirectoryEntry? e = Find(parentKey, slot);
        if (e is null)
        {
            return; // deleted while a stream was open: nothing to update
        }

        change(e);
        _fs.Directory(parentKey).Update(e);
    }

    /// <summary>Records a file's new first cluster and size, and stamps its write time.</summary>
    public void UpdateFileContent(uint parentKey, int slot, uint firstCluster, uint size)
    {
        (ushort date, ushort time, _) = FatTime.FromUnix(_fs.Now);
        UpdateEntry(parentKey, slot, e =>
        {
            e.FirstCluster = firstCluster;
            e.Size = size;
            e.WriteDate = date;
            e.WriteTime = time;
            e.AccessDate = date;
            e.Attributes |= FatAttributes.Archive;
        });
    }

    private FatDirectoryEntry? Find(uint parentKey, int slot)
    {
        foreach (FatDirectoryEntry e in _fs.Directory(parentKey).Entries)
        {
            if (e.Slot == slot)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>The cluster ".." stores for a directory whose parent has key <paramref name="parentKey"/>: 0 for the root, on FAT32 too.</summary>
    private uint DotDotKey(uint parentKey) =>
        parentKey == 0 || (_volume.Boot.Type == FatType.Fat32 && parentKey == _volume.Boot.RootCluster) ? 0 : parentKey;

    /// <summary>Refuses to move directory <paramref name="directoryKey"/> below itself (checked by cluster, since names are case-insensitive).</summary>
    private void CheckNotInside(uint directoryKey, FatNode destinationParent, string sourcePath)
    {
        // Walk up from the destination's parent through the ".." entries, bounded by the cluster count.
        uint key = destinationParent.Key;
        uint root = _volume.Boot.Type == FatType.Fat32 ? _volume.Boot.RootCluster : 0;
        for (int steps = 0; key != root && key != 0; steps++)
        {
            if (key == directoryKey)
            {
                throw new IOException($"Cannot move '{sourcePath}' into itself.");
            }

            if (steps > _volume.Boot.ClusterCount)
            {
                FormatError.Throw("FAT directory", -1, "the '..' entries form a loop.");
            }

            key = _fs.Directory(key).ParentKeyFromDotDot(root);
        }
    }
}
