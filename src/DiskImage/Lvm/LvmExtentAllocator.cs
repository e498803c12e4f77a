namespace DiskImage.Lvm;

/// <summary>
/// Chooses free physical extents for new or extended LVs, as lvcreate's default policy does in the common
/// cases: one contiguous run if any PV has it, otherwise free runs in PV order; each stripe on its own PV.
/// </summary>
internal sealed class LvmExtentAllocator
{
    private readonly List<(LvmPhysicalVolume Pv, List<(long Start, long Count)> Free)> _free = [];

    public LvmExtentAllocator(LvmVolumeGroupContents contents)
    {
        foreach (LvmPhysicalVolume pv in contents.PhysicalVolumes)
        {
            if (pv.IsMissing || !pv.Status.Contains("ALLOCATABLE"))
            {
                continue;
            }

            var used = new List<(long Start, long Count)>();
            foreach (var u in contents.UsedAreas)
            {
                if (u.Pv == pv)
                {
                    used.Add((u.Start, u.Count));
                }
            }

            used.Sort((a, b) => a.Start.CompareTo(b.Start));
            var free = new List<(long, long)>();
            long next = 0;
            foreach (var (start, count) in used)
            {
                if (start > next)
                {
                    free.Add((next, start - next));
                }

                next = Math.Max(next, start + count);
            }

            if (pv.ExtentCount > next)
            {
                free.Add((next, pv.ExtentCount - next));
            }

            _free.Add((pv, free));
        }
    }

    /// <summary>The number of free extents.</summary>
    public long FreeExtents
    {
        get
        {
            long total = 0;
            foreach (var (_, free) in _free)
            {
                foreach (var (_, count) in free)
                {
                    total += count;
                }
            }

            return total;
        }
    }

    /// <summary>How many extents are free right after <paramref name="start"/> on <paramref name="pv"/> (to grow a segment in place).</summary>
    public long FreeAt(LvmPhysicalVolume pv, long start)
    {
        foreach (var (p, free) in _free)
        {
            if (p == pv)
            {
                foreach (var (s, count) in free)
                {
                    if (s == start)
                    {
                        return count;
                    }
                }
            }
        }

        return 0;
    }

    /// <summary>Takes <paramref name="count"/> extents starting at <paramref name="start"/> on <paramref name="pv"/> out of the free map.</summary>
    public void Take(LvmPhysicalVolume pv, long start, long count)
    {
        foreach (var (p, free) in _free)
        {
            if (p != pv)
            {
                continue;
            }

            for (int i = 0; i < free.Count; i++)
            {
                var (s, c) = free[i];
                if (start >= s && start + count <= s + c)
                {
                    free.RemoveAt(i);
                    if (start + count < s + c)
                    {
                        free.Insert(i, (start + count, s + c - start - count));
                    }

                    if (start > s)
                    {
                        free.Insert(i, (s, start - s));
                    }

                    return;
                }
            }
        }

        throw new InvalidOperationException("The extents to take are not free.");
    }

    /// <summary>Areas for <paramref name="count"/> linear extents: one contiguous run when possible, else runs in PV order.</summary>
    /// <exception cref="InvalidOperationException">Not enough free extents.</exception>
    public List<(LvmPhysicalVolume Pv, long Start, long Count)> AllocateLinear(long count)
    {
        var result = new List<(LvmPhysicalVolume, long, long)>();
        foreach (var (pv, free) in _free)
        {
            foreach (var (s, c) in free)
            {
                if (c >= count)
                {
                    Take(pv, s, count);
                    result.Add((pv, s, count));
                    return result;
                }
            }
        }

        if (FreeExtents < count)
        {
            throw new InvalidOperationException($"Insufficient free extents: {count} needed, {FreeExtents} free.");
        }

        long left = count;
        while (left > 0)
        {
            (LvmPhysicalVolume pv, long s, long c) = FirstFree();
            long n = Math.Min(c, left);
            Take(pv, s, n);
            result.Add((pv, s, n));
            left -= n;
        }

        return result;
    }

    /// <summary>One contiguous run of <paramref name="perStripe"/> extents on each of <paramref name="stripes"/> different PVs.</summary>
    /// <exception cref="InvalidOperationException">Fewer PVs than stripes have such a run.</exception>
    public List<(LvmPhysicalVolume Pv, long Start)> AllocateStriped(int stripes, long perStripe)
    {
        var result = new List<(LvmPhysicalVolume, long)>();
        foreach (var (pv, free) in _free)
        {
            foreach (var (s, c) in free)
            {
                if (c >= perStripe)
                {
                    result.Add((pv, s));
                    break;
                }
            }

            if (result.Count == stripes)
            {
                break;
            }
        }

        if (result.Count < stripes)
        {
            throw new InvalidOperationException($"Insufficient suitable allocatable extents: {stripes} stripes of {perStripe} extents need {stripes} PVs with that much contiguous free space; {result.Count} have it.");
        }

        foreach (var (pv, s) in result)
        {
            Take(pv, s, perStripe);
        }

        return result;
    }

    private (LvmPhysicalVolume, long, long) FirstFree()
    {
        foreach (var (pv, free) in _free)
        {
            if (free.Count > 0)
            {
                return (pv, free[0].Start, free[0].Count);
            }
        }

        throw new InvalidOperationException("No free extents.");
    }
}
