using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Fat;

/// <summary>
/// The file allocation table, held in memory (the part that describes the volume's clusters): entry
/// access for FAT12/16/32, chain walking with loop and range checks, allocation with a next-free hint
/// and the free count, and write-back of changed sectors to every FAT copy.
/// </summary>
internal sealed class FatTable
{
    /// <summary>The end-of-chain value written (FAT32 width; narrowed for FAT12/16).</summary>
    public const uint EndOfChain = 0x0FFFFFFF;

    private readonly BlockDevice _device;
    private readonly FatBootSector _boot;
    private readonly byte[] _bytes;
    private readonly bool[] _dirty;
    private readonly uint _badValue;
    private readonly uint _endMinimum;
    private uint _nextFree = 2;

    private FatTable(BlockDevice device, FatBootSector boot, byte[] bytes)
    {
        _device = device;
        _boot = boot;
        _bytes = bytes;
        _dirty = new bool[(bytes.Length + boot.BytesPerSector - 1) / boot.BytesPerSector];
        (_badValue, _endMinimum) = boot.Type switch
        {
            FatType.Fat12 => (0xFF7u, 0xFF8u),
            FatType.Fat16 => (0xFFF7u, 0xFFF8u),
            _ => (0x0FFFFFF7u, 0x0FFFFFF8u),
        };
        int free = 0;
        for (uint c = 2; c <= LastCluster; c++)
        {
            if (Get(c) == 0)
            {
                free++;
            }
        }

        FreeClusters = free;
    }

    /// <summary>Number of free clusters (counted when the table was read, kept up to date since).</summary>
    public int FreeClusters { get; private set; }

    /// <summary>The highest cluster number of the volume.</summary>
    public uint LastCluster => (uint)_boot.ClusterCount + 1;

    /// <summary>The next-free hint (FSInfo <c>FSI_Nxt_Free</c>).</summary>
    public uint NextFree => _nextFree;

    /// <summary>Reads the FAT (the active one when mirroring is off, else the first).</summary>
    public static FatTable Read(BlockDevice device, FatBootSector boot, uint nextFreeHint)
    {
        long entries = (long)boot.ClusterCount + 2;
        long bytes = boot.Type switch
        {
            FatType.Fat12 => ((entries * 3) + 1) / 2,
            FatType.Fat16 => entries * 2,
            _ => entries * 4,
        };
        byte[] data = new byte[bytes];
        int fat = Math.Max(boot.ActiveFat, 0);
        device.ReadExactly(boot.FatOffset + (fat * boot.FatBytes), data);
        var table = new FatTable(device, boot, data);
        if (nextFreeHint >= 2 && nextFreeHint <= table.LastCluster)
        {
            table._nextFree = nextFreeHint;
        }

        return table;
    }

    /// <summary>Builds the table of a freshly formatted volume (entries 0 and 1 set; nothing written yet).</summary>
    public static FatTable CreateEmpty(BlockDevice device, FatBootSector boot)
    {
        long entries = (long)boot.ClusterCount + 2;
        long bytes = boot.Type switch
        {
            FatType.Fat12 => ((entries * 3) + 1) / 2,
            FatType.Fat16 => entries * 2,
            _ => entries * 4,
        };
        var table = new FatTable(device, boot, new byte[bytes]);
        table.Set(0, 0x0FFFFF00u | boot.Media);
        table.Set(1, EndOfChain);
        return table;
    }

    /// <summary>The raw entry of cluster <paramref name="n"/> (0 .. LastCluster).</summary>
    public uint Get(uint n)
    {
        switch (_boot.Type)
        {
            case FatType.Fat12:
                int o = (int)(n + (n / 2));
                ushort v = BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(o));
                return (n & 1) == 0 ? (uint)(v & 0xFFF) : (uint)(v >> 4);
            case FatType.Fat16:
                return BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan((int)(n * 2)));
            default:
                return BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)(n * 4))) & 0x0FFFFFFF;
        }
    }

    /// <summary>Sets the entry of cluster <paramref name="n"/> (keeping the top 4 bits of a FAT32 entry).</summary>
    public void Set(uint n, uint value)
    {
        int o;
        int len;
        switch (_boot.Type)
        {
            case FatType.Fat12:
                o = (int)(n + (n / 2));
                len = 2;
                ushort old = BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(o));
                ushort nv = (n & 1) == 0 ? (ushort)((old & 0xF000u) | (value & 0xFFFu)) : (ushort)((old & 0x000Fu) | ((value & 0xFFFu) << 4));
                BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(o), nv);
                break;
            case FatType.Fat16:
                o = (int)(n * 2);
                len = 2;
                BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(o), (ushort)value);
                break;
            default:
                o = (int)(n * 4);
                len = 4;
                uint top = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(o)) & 0xF0000000;
                BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(o), top | (value & 0x0FFFFFFF));
                break;
        }

        _dirty[o / _boot.BytesPerSector] = true;
        _dirty[(o + len - 1) / _boot.BytesPerSector] = true;
    }

    /// <summary>Whether <paramref name="value"/> ends a chain.</summary>
    public bool IsEnd(uint value) => value >= _endMinimum;

    /// <summary>
    /// Follows the chain from <paramref name="first"/> into <paramref name="chain"/>. A free, bad or
    /// out-of-volume link, or a chain longer than the volume (a loop), throws <see cref="InvalidDataException"/>.
    /// <paramref name="maxClusters"/> bounds the walk (a file's size, a directory's limit).
    /// </summary>
    public void ReadChain(uint first, List<uint> chain, long maxClusters, string what)
    {
        chain.Clear();
        if (first == 0)
        {
            return;
        }

        long limit = Math.Min(maxClusters, _boot.ClusterCount);
        uint c = first;
        while (true)
        {
            if (c < 2 || c > LastCluster)
            {
                FormatError.Throw("FAT cluster chain", -1, $"{what}: cluster {c} is outside the volume (2..{LastCluster}).");
            }

            if (chain.Count >= limit)
            {
                FormatError.Throw("FAT cluster chain", -1, $"{what}: the chain is longer than {limit} clusters (a loop or a wrong size).");
            }

            chain.Add(c);
            uint next = Get(c);
            if (IsEnd(next))
            {
                return;
            }

            if (next == 0 || next == _badValue)
            {
                FormatError.Throw("FAT cluster chain", -1, $"{what}: cluster {c} links to a {(next == 0 ? "free" : "bad")} cluster.");
            }

            c = next;
        }
    }

    /// <summary>
    /// Allocates <paramref name="count"/> clusters, links them after <paramref name="last"/> (0: a new
    /// chain) and ends the chain; appends them to <paramref name="chain"/>.
    /// </summary>
    /// <exception cref="IOException">Not enough free clusters (nothing is changed).</exception>
    public void Allocate(int count, uint last, List<uint> chain)
    {
        if (count <= 0)
        {
            return;
        }

        if (count > FreeClusters)
        {
            throw new IOException($"No space left on the FAT file system ({count} clusters needed, {FreeClusters} free).");
        }

        uint prev = last;
        uint c = _nextFree;
        for (int i = 0; i < count; i++)
        {
            for (long scanned = 0; Get(c) != 0; scanned++)
            {
                if (scanned > _boot.ClusterCount)
                {
                    throw new InvalidOperationException("The free cluster count does not match the FAT.");
                }

                c = c >= LastCluster ? 2 : c + 1;
            }

            Set(c, EndOfChain);
            if (prev != 0)
            {
                Set(prev, c);
            }

            chain.Add(c);
            prev = c;
            FreeClusters--;
            c = c >= LastCluster ? 2 : c + 1;
        }

        _nextFree = c;
    }

    /// <summary>Frees the clusters of <paramref name="chain"/> from index <paramref name="from"/> on, and ends the chain before them.</summary>
    public void Truncate(List<uint> chain, int from)
    {
        for (int i = from; i < chain.Count; i++)
        {
            Set(chain[i], 0);
            FreeClusters++;
        }

        if (from > 0 && from < chain.Count)
        {
            Set(chain[from - 1], EndOfChain);
        }

        chain.RemoveRange(from, chain.Count - from);
    }

    /// <summary>Writes the changed sectors to every FAT copy (only the active one when mirroring is off).</summary>
    public void Flush()
    {
        int bps = _boot.BytesPerSector;
        for (int i = 0; i < _dirty.Length; i++)
        {
            if (!_dirty[i])
            {
                continue;
            }

            int run = i;
            while (run < _dirty.Length && _dirty[run])
            {
                _dirty[run++] = false;
            }

            int start = i * bps;
            int length = Math.Min(_bytes.Length, run * bps) - start;
            for (int f = 0; f < _boot.FatCount; f++)
            {
                if (_boot.ActiveFat < 0 || _boot.ActiveFat == f)
                {
                    _device.Write(_boot.FatOffset + (f * _boot.FatBytes) + start, _bytes.AsSpan(start, length));
                }
            }

            i = run - 1;
        }
    }
}
