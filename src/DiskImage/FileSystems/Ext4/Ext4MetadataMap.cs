namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// The blocks a writable ext4 file system must never hand out or free: superblock and descriptor copies,
/// reserved GDT blocks, block and inode bitmaps, inode tables and the journal. Built once when the file
/// system is opened for writing, it lets the allocator check a bitmap against the geometry (a bitmap
/// that calls a metadata block free is corrupt) without trusting the bitmap itself.
/// </summary>
internal sealed class Ext4MetadataMap
{
    /// <summary>What a run of metadata blocks holds.</summary>
    public enum Kind : byte
    {
        /// <summary>A superblock copy with its descriptor blocks and reserved GDT blocks.</summary>
        SuperblockAndDescriptors,

        /// <summary>A block bitmap.</summary>
        BlockBitmap,

        /// <summary>An inode bitmap.</summary>
        InodeBitmap,

        /// <summary>An inode table.</summary>
        InodeTable,

        /// <summary>Blocks of the journal.</summary>
        Journal,
    }

    private readonly List<MetadataRun> _pending = [];
    private MetadataRun[] _runs = [];

    /// <summary>Records <paramref name="count"/> blocks from <paramref name="start"/> holding <paramref name="kind"/> of <paramref name="group"/>.</summary>
    public void Add(long start, long count, Kind kind, uint group)
    {
        if (count > 0)
        {
            _pending.Add(new MetadataRun(start, start + count, kind, group));
        }
    }

    /// <summary>
    /// Sorts the recorded runs and checks that no two overlap (two structures in one block means the
    /// descriptors are corrupt).
    /// </summary>
    /// <exception cref="InvalidDataException">Two metadata structures share a block.</exception>
    public void Seal()
    {
        _pending.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < _pending.Count; i++)
        {
            if (_pending[i].Start < _pending[i - 1].End)
            {
                FormatError.Throw("ext4 group descriptors", -1,
                    $"{_pending[i].Describe()} (block {_pending[i].Start}) overlaps {_pending[i - 1].Describe()} (blocks {_pending[i - 1].Start}-{_pending[i - 1].End - 1}).");
            }
        }

        _runs = [.. _pending];
        _pending.Clear();
    }

    /// <summary>
    /// The first metadata run that intersects [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>),
    /// as an index for <see cref="Run(int)"/>; -1 when none does.
    /// </summary>
    public int FirstOverlap(long start, long count)
    {
        int i = FirstEndingAfter(start);
        return i < _runs.Length && _runs[i].Start < start + count ? i : -1;
    }

    /// <summary>The index of the first run that ends after <paramref name="block"/> (binary search).</summary>
    public int FirstEndingAfter(long block)
    {
        int lo = 0;
        int hi = _runs.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_runs[mid].End <= block)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>The number of runs.</summary>
    public int Count => _runs.Length;

    /// <summary>Run <paramref name="index"/>: its first block, its end (exclusive) and what it holds.</summary>
    public MetadataRun Run(int index) => _runs[index];

    /// <summary>A run of metadata blocks [<see cref="Start"/>, <see cref="End"/>).</summary>
    internal readonly record struct MetadataRun(long Start, long End, Kind What, uint Group)
    {
        /// <summary>A name for messages, such as "the inode table of group 3".</summary>
        public string Describe() => What switch
        {
            Kind.SuperblockAndDescriptors => $"the superblock and descriptor copy of group {Group}",
            Kind.BlockBitmap => $"the block bitmap of group {Group}",
            Kind.InodeBitmap => $"the inode bitmap of group {Group}",
            Kind.InodeTable => $"the inode table of group {Group}",
            _ => "the journal",
        };
    }
}
