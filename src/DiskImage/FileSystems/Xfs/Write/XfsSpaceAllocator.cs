namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Free space of a file system being built: per allocation group a sorted list of free extents, handed out first-fit
/// (so a bulk build fills the groups in order and leaves few, large free extents for the free-space btrees). Every
/// group keeps free the blocks the kernel reserves for its metadata btrees at mount (<see cref="MetadataReserve"/>):
/// allocations other than <see cref="Reserve"/> and <see cref="TakeKeepingCount"/> do not go below it.
/// </summary>
internal sealed class XfsSpaceAllocator
{
    /// <summary>Longest extent a bmbt record holds (<c>XFS_MAX_BMBT_EXTLEN</c>, 21 bits).</summary>
    public const int MaxExtentLength = (1 << 21) - 1;

    private readonly XfsGeometry _g;
    private readonly List<(int Start, int Length)>[] _free;
    private readonly long[] _freeTotal;
    private readonly int[] _reserve;
    private int _firstAg;

    public XfsSpaceAllocator(XfsGeometry g)
    {
        _g = g;
        _free = new List<(int Start, int Length)>[g.AgCount];
        _freeTotal = new long[g.AgCount];
        _reserve = new int[g.AgCount];
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            _free[ag] = [(0, g.AgLength(ag))];
            _freeTotal[ag] = g.AgLength(ag);
            _reserve[ag] = MetadataReserve(g, ag);
        }
    }

    /// <summary>
    /// The blocks the kernel reserves in <paramref name="ag"/> at mount for its metadata btrees at their largest
    /// (the per-AG metadata pool of <c>xfs_ag_resv_init</c>: the free-inode btree, the reference-count btree with
    /// reflink; and with rmapbt the reverse-mapping pool, 1% of the group or one rmapbt record per block, whichever is
    /// more), counted as it counts them (<c>xfs_btree_calc_size</c> over the minimum records per block, the log's
    /// blocks left out of the group's size). A group whose free blocks fall below this makes the kernel report
    /// "ENOSPC reserving per-AG metadata pool" at mount and refuse allocations there.
    /// </summary>
    internal static int MetadataReserve(XfsGeometry g, int ag)
    {
        long blocks = g.AgLength(ag);
        if (ag == g.LogAg)
        {
            blocks -= g.LogBlocks;
        }

        const int Header = 56; // a V5 short-form btree block header
        int usable = g.BlockSize - Header;
        int nodeMin = usable / 8 / 2; // 4-byte key + 4-byte pointer
        long reserve = CalcSize(usable / 16 / 2, nodeMin, blocks * (1L << g.InodesPerBlockLog) / 64);
        if (g.Reflink)
        {
            reserve += CalcSize(usable / 12 / 2, nodeMin, blocks);
        }

        if (g.Rmap)
        {
            // 24-byte records; nodes hold a low and a high 20-byte key and a 4-byte pointer per child.
            reserve += Math.Max(blocks / 100, CalcSize(usable / 24 / 2, usable / 44 / 2, blocks));
        }

        return (int)Math.Min(reserve, blocks);
    }

    private static long CalcSize(int leafMin, int nodeMin, long records)
    {
        long blocks = 0;
        int per = leafMin;
        while (records > 1)
        {
            records = (records + per - 1) / per;
            blocks += records;
            per = nodeMin;
        }

        return blocks;
    }

    /// <summary>Blocks of <paramref name="ag"/> an allocation may take without going into the kernel's reserve.</summary>
    private long Available(int ag) => _freeTotal[ag] - _reserve[ag];

    /// <summary>The free extents of <paramref name="ag"/>, sorted by start.</summary>
    public IReadOnlyList<(int Start, int Length)> Free(int ag) => _free[ag];

    /// <summary>Takes a specific range out of the free space (headers, log, the root inode chunk).</summary>
    public void Reserve(int ag, int start, int length)
    {
        List<(int Start, int Length)> list = _free[ag];
        for (int i = 0; i < list.Count; i++)
        {
            (int s, int l) = list[i];
            if (start >= s && start + length <= s + l)
            {
                Take(ag, i, start, length);
                return;
            }
        }

        throw new InvalidOperationException($"AG {ag} blocks {start}+{length} are not free.");
    }

    /// <summary>Whether blocks <paramref name="start"/>..+<paramref name="length"/> of <paramref name="ag"/> are all free.</summary>
    public bool IsFree(int ag, long start, long length)
    {
        if (ag < 0 || ag >= _free.Length || start < 0 || length <= 0)
        {
            return false;
        }

        List<(int Start, int Length)> list = _free[ag];
        int lo = 0, hi = list.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            (int s, int l) = list[mid];
            if (start < s)
            {
                hi = mid - 1;
            }
            else if (start >= (long)s + l)
            {
                lo = mid + 1;
            }
            else
            {
                return start + length <= (long)s + l;
            }
        }

        return false;
    }

    /// <summary>
    /// Allocates up to <paramref name="length"/> blocks as one extent from the start of the largest free extent (at least
    /// one block): new data of a flush goes there, so that the holes of freed metadata are refilled in their old order.
    /// </summary>
    /// <exception cref="IOException">The file system is full.</exception>
    public (int Ag, int Block, int Length) AllocateLargest(long length)
    {
        int bestAg = -1, bestIndex = -1, bestLength = 0;
        for (int ag = 0; ag < _g.AgCount; ag++)
        {
            long available = Available(ag);
            List<(int Start, int Length)> list = _free[ag];
            for (int i = 0; i < list.Count && available > 0; i++)
            {
                int usable = (int)Math.Min(list[i].Length, available);
                if (usable > bestLength)
                {
                    (bestAg, bestIndex, bestLength) = (ag, i, usable);
                    if (bestLength >= length)
                    {
                        break;
                    }
                }
            }

            if (bestLength >= length)
            {
                break;
            }
        }

        if (bestAg < 0)
        {
            throw new IOException("The tree does not fit in the XFS file system (it is full).");
        }

        int s = _free[bestAg][bestIndex].Start;
        int n = (int)Math.Min(Math.Min(length, bestLength), MaxExtentLength);
        Take(bestAg, bestIndex, s, n);
        return (bestAg, s, n);
    }

    /// <summary>
    /// Takes <paramref name="length"/> blocks from the start of a free extent of <paramref name="ag"/> longer than that,
    /// so that the number of free extents does not change (blocks for the free-space btrees themselves); -1 when none.
    /// </summary>
    public int TakeKeepingCount(int ag, int length)
    {
        List<(int Start, int Length)> list = _free[ag];
        int best = -1;
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Length > length && (best < 0 || list[i].Length > list[best].Length))
            {
                best = i;
            }
        }

        if (best < 0)
        {
            return -1;
        }

        int s = list[best].Start;
        Take(ag, best, s, length);
        return s;
    }

    /// <summary>
    /// Frees the <paramref name="length"/> blocks just before the free extent starting at <paramref name="start"/> +
    /// <paramref name="length"/> (the tail of a <see cref="TakeKeepingCount"/> run), so the number of free extents stays.
    /// </summary>
    public void GiveBack(int ag, int start, int length)
    {
        List<(int Start, int Length)> list = _free[ag];
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Start == start + length)
            {
                list[i] = (start, list[i].Length + length);
                _freeTotal[ag] += length;
                return;
            }
        }

        throw new InvalidOperationException($"AG {ag} blocks {start}+{length} are not followed by free space.");
    }

    /// <summary>Allocates <paramref name="length"/> contiguous blocks aligned to <paramref name="align"/> in <paramref name="ag"/>; -1 when none.</summary>
    public int AllocateIn(int ag, int length, int align)
    {
        if (Available(ag) < length)
        {
            return -1;
        }

        List<(int Start, int Length)> list = _free[ag];
        for (int i = 0; i < list.Count; i++)
        {
            (int s, int l) = list[i];
            int a = (s + align - 1) / align * align;
            if (a + length <= s + l)
            {
                Take(ag, i, a, length);
                return a;
            }
        }

        return -1;
    }

    /// <summary>Allocates contiguous blocks in the first group that has them.</summary>
    /// <exception cref="IOException">No group has them.</exception>
    public (int Ag, int Block) AllocateContiguous(int length, int align = 1)
    {
        for (int ag = _firstAg; ag < _g.AgCount; ag++)
        {
            int b = AllocateIn(ag, length, align);
            if (b >= 0)
            {
                return (ag, b);
            }
        }

        throw new IOException("The tree does not fit in the XFS file system (no contiguous free space left).");
    }

    /// <summary>Allocates up to <paramref name="length"/> blocks as one extent from the first free space (at least one block).</summary>
    /// <exception cref="IOException">The file system is full.</exception>
    public (int Ag, int Block, int Length) AllocatePart(long length)
    {
        for (int ag = _firstAg; ag < _g.AgCount; ag++)
        {
            List<(int Start, int Length)> list = _free[ag];
            long available = Available(ag);
            if (list.Count > 0 && available > 0)
            {
                (int s, int l) = list[0];
                int n = (int)Math.Min(Math.Min(Math.Min(length, l), available), MaxExtentLength);
                Take(ag, 0, s, n);
                return (ag, s, n);
            }

            if (ag == _firstAg)
            {
                _firstAg++;
            }
        }

        throw new IOException("The tree does not fit in the XFS file system (it is full).");
    }

    private void Take(int ag, int i, int start, int length)
    {
        List<(int Start, int Length)> list = _free[ag];
        _freeTotal[ag] -= length;
        (int s, int l) = list[i];
        int tail = s + l - (start + length);
        if (start > s && tail > 0)
        {
            list[i] = (s, start - s);
            list.Insert(i + 1, (start + length, tail));
        }
        else if (start > s)
        {
            list[i] = (s, start - s);
        }
        else if (tail > 0)
        {
            list[i] = (start + length, tail);
        }
        else
        {
            list.RemoveAt(i);
        }
    }
}
