using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using DiskImage.FileSystems.Host;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Plans where everything a build writes goes: inode numbers, data runs (sparse files as runs between
/// holes), extent-tree blocks after their file, directory blocks and shared xattr blocks, within the
/// formatter's layout.
/// </summary>
internal sealed class Ext4BuildLayout(Ext4Builder owner)
{
    private readonly Ext4Builder _builder = owner;

    /// <summary>Where one inode's blocks go.</summary>
    internal sealed class Placement
    {
        public List<(long Start, long Count)> Runs { get; } = [];

        /// <summary>The logical block of each run (runs of sparse files leave holes between them).</summary>
        public List<long> Logical { get; } = [];

        public long[] TreeBlocks { get; set; } = [];

        public SharedXattrBlock? XattrBlock { get; set; }

        public int DirectoryBlocks { get; set; }
    }

    internal sealed class SharedXattrBlock(byte[] content, long block)
    {
        public byte[] Content { get; } = content;

        public long Block { get; } = block;

        public int References { get; set; }

        public bool Written { get; set; }
    }

    internal Placement[] Plan(Ext4Formatter engine)
    {
        int bs = engine.BlockSize;
        var plan = new Placement[_builder._items.Count];
        var shared = new Dictionary<byte[], SharedXattrBlock>(Ext4Builder.ByteArrayComparer.Instance);
        // The Upstream profile's orphan file takes the inode after the tree's last one (when the file system has a
        // journal; without one this keeps one inode more than needed).
        uint reserved = _builder._options.Format.Profile == Ext4FormatProfile.Upstream ? 1u : 0u;
        if (_builder._items.Count > 2 && (long)_builder._items[^1].Ino + reserved > engine.InodeCount)
        {
            throw new Ext4NoSpaceException();
        }

        for (int i = 0; i < _builder._items.Count; i++)
        {
            Ext4Builder.Item item = _builder._items[i];
            var p = new Placement();
            plan[i] = p;
            long blocks = 0;
            switch (item.Info.Type)
            {
                case UnixFileType.Directory:
                    p.DirectoryBlocks = item.Synthetic ? engine.LostAndFoundBlocks : CountDirectoryBlocks(item, bs, engine.MetadataChecksum);
                    blocks = p.DirectoryBlocks;
                    break;
                case UnixFileType.RegularFile when item.DataRanges is not null:
                    PlaceSparse(engine, item, p, bs);
                    break;
                case UnixFileType.RegularFile:
                    blocks = (item.Info.Size + bs - 1) / bs;
                    break;
                case UnixFileType.SymbolicLink when item.Target!.Length >= 60:
                    if (item.Target.Length >= bs)
                    {
                        throw new NotSupportedException($"'{item.Path}': a symbolic link target of {item.Target.Length} bytes does not fit in one {bs}-byte block.");
                    }

                    blocks = 1;
                    break;
            }

            long logical = 0;
            while (blocks > 0)
            {
                (long s, long c) = engine.AllocateRun(Math.Min(blocks, Ext4Builder.MaxExtentLength));
                p.Runs.Add((s, c));
                p.Logical.Add(logical);
                logical += c;
                blocks -= c;
            }

            int treeBlocks = CountTreeBlocks(p.Runs.Count, bs);
            if (treeBlocks > 0)
            {
                p.TreeBlocks = new long[treeBlocks];
                for (int t = 0; t < treeBlocks; t++)
                {
                    p.TreeBlocks[t] = engine.AllocateRun(1).Start;
                }
            }

            if (item.Xattrs is { } xattrs)
            {
                byte[]? blockContent = xattrs.BlockContent(bs, engine.InodeSize, item.Path);
                if (blockContent is not null)
                {
                    if (!shared.TryGetValue(blockContent, out SharedXattrBlock? sx))
                    {
                        sx = new SharedXattrBlock(blockContent, engine.AllocateRun(1).Start);
                        shared.Add(blockContent, sx);
                    }

                    sx.References++;
                    p.XattrBlock = sx;
                }
            }

            engine.MarkInodeUsed(item.Ino, item.Info.Type == UnixFileType.Directory);
            if (item.Ino == Ext4Builder.LostAndFoundInode)
            {
                // The journal follows the root and lost+found, as in Format.
                engine.AllocateJournal();
            }
        }

        return plan;
    }

    /// <summary>Allocates only the blocks a sparse file has data in (block-aligned, merged), keeping its holes.</summary>
    private static void PlaceSparse(Ext4Formatter engine, Ext4Builder.Item item, Placement p, int bs)
    {
        long fileBlocks = (item.Info.Size + bs - 1) / bs;
        long end = -1;
        long first = 0;
        void Flush()
        {
            long logical = first;
            while (logical < end)
            {
                (long s, long c) = engine.AllocateRun(Math.Min(end - logical, Ext4Builder.MaxExtentLength));
                p.Runs.Add((s, c));
                p.Logical.Add(logical);
                logical += c;
            }
        }

        foreach ((long offset, long length) in item.DataRanges!)
        {
            long lb = offset / bs;
            long le = Math.Min((offset + length + bs - 1) / bs, fileBlocks);
            if (le <= lb)
            {
                continue;
            }

            if (end >= 0 && lb <= end)
            {
                end = Math.Max(end, le);
                continue;
            }

            if (end >= 0)
            {
                Flush();
            }

            first = lb;
            end = le;
        }

        if (end >= 0)
        {
            Flush();
        }

        if (fileBlocks > uint.MaxValue)
        {
            throw new NotSupportedException($"'{item.Path}' is larger than ext4 extents address.");
        }
    }

    /// <summary>Index and leaf blocks an extent tree over <paramref name="extents"/> needs beyond the four in-inode entries.</summary>
    private static int CountTreeBlocks(int extents, int bs)
    {
        if (extents <= 4)
        {
            return 0;
        }

        int perBlock = (bs - 12) / 12;
        int total = 0;
        int level = extents;
        int depth = 0;
        while (level > 4)
        {
            level = (level + perBlock - 1) / perBlock;
            total += level;
            if (++depth > 4)
            {
                throw new NotSupportedException("The file needs an extent tree deeper than ext4 allows.");
            }
        }

        return total;
    }

    internal static int DirectoryRecordLength(int nameLength) => (8 + nameLength + 3) & ~3;

    private static int CountDirectoryBlocks(Ext4Builder.Item dir, int bs, bool csum)
    {
        int usable = bs - (csum ? 12 : 0);
        int blocks = 1;
        int off = 24; // "." and ".."
        foreach (Ext4Builder.Child c in dir.Children!)
        {
            int rec = DirectoryRecordLength(c.Name.Length);
            if (off + rec > usable)
            {
                blocks++;
                off = 0;
            }

            off += rec;
        }

        return blocks;
    }
}
