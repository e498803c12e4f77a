namespace DiskImage.Partitions;

/// <summary>
/// Free-space arithmetic shared by the tables: where a new partition goes (aligned to the grain, 1 MiB,
/// as sfdisk places them), how far one can grow, and the overlap check readers apply.
/// </summary>
internal static class PartitionLayout
{
    /// <summary>A used range of sectors, inclusive.</summary>
    internal readonly record struct Range(long First, long Last);

    /// <summary>
    /// Places a new partition of <paramref name="sectors"/> sectors (null: the largest free area, its end
    /// aligned down to the grain) within [<paramref name="low"/>, <paramref name="high"/>], outside every
    /// range of <paramref name="used"/>. <paramref name="headroom"/> sectors are reserved before the
    /// partition (an EBR's grain). Returns where the reserved area starts and the partition's extent.
    /// </summary>
    /// <exception cref="InvalidOperationException">No free area fits.</exception>
    public static (long AreaStart, long First, long Last) Place(List<Range> used, long low, long high, long grain, long? sectors, long? firstSector, long headroom = 0)
    {
        List<Range> gaps = Gaps(used, low, high);
        if (firstSector is { } wanted)
        {
            foreach (Range gap in gaps)
            {
                long first = wanted;
                long areaStart = first - headroom;
                if (areaStart < gap.First || first > gap.Last)
                {
                    continue;
                }

                long last = sectors is { } n ? first + n - 1 : AlignedEnd(first, gap.Last, grain);
                if (last <= gap.Last)
                {
                    return (areaStart, first, last);
                }
            }

            throw new InvalidOperationException($"Sector {wanted} is not the start of a free area large enough for the partition.");
        }

        (long, long, long)? best = null;
        long bestSize = 0;
        foreach (Range gap in gaps)
        {
            long areaStart = AlignUp(gap.First, grain);
            long first = areaStart + headroom;
            if (first > gap.Last || first < areaStart)
            {
                continue;
            }

            if (sectors is { } n)
            {
                if (n <= gap.Last - first + 1)
                {
                    return (areaStart, first, first + n - 1);
                }

                continue;
            }

            long last = AlignedEnd(first, gap.Last, grain);
            if (last - first + 1 > bestSize)
            {
                bestSize = last - first + 1;
                best = (areaStart, first, last);
            }
        }

        return best ?? throw new InvalidOperationException(sectors is { } s
            ? $"No free area of {s} sectors (aligned to {grain} sectors) is left."
            : "No free space is left for a new partition.");
    }

    /// <summary>The last sector a partition starting at <paramref name="first"/> may grow to: the sector before the next used range, or <paramref name="high"/>.</summary>
    public static long GrowLimit(List<Range> used, long first, long high)
    {
        long limit = high;
        foreach (Range r in used)
        {
            if (r.First > first && r.First - 1 < limit)
            {
                limit = r.First - 1;
            }
        }

        return limit;
    }

    /// <summary>Returns the first pair of overlapping ranges, or null.</summary>
    public static (Range A, Range B)? FindOverlap(List<Range> ranges)
    {
        var sorted = new List<Range>(ranges);
        sorted.Sort((a, b) => a.First.CompareTo(b.First));
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].First <= sorted[i - 1].Last)
            {
                return (sorted[i - 1], sorted[i]);
            }
        }

        return null;
    }

    /// <summary>The free ranges of [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public static List<Range> Gaps(List<Range> used, long low, long high)
    {
        var sorted = new List<Range>(used);
        sorted.Sort((a, b) => a.First.CompareTo(b.First));
        var gaps = new List<Range>();
        long cursor = low;
        foreach (Range r in sorted)
        {
            if (r.First > cursor && cursor <= high)
            {
                gaps.Add(new Range(cursor, Math.Min(r.First - 1, high)));
            }

            cursor = Math.Max(cursor, r.Last + 1);
        }

        if (cursor <= high)
        {
            gaps.Add(new Range(cursor, high));
        }

        return gaps;
    }

    public static long AlignUp(long value, long grain) => (value + grain - 1) / grain * grain;

    // sfdisk ends a "rest of the disk" partition on a grain boundary when the area allows it.
    private static long AlignedEnd(long first, long gapLast, long grain)
    {
        long aligned = ((gapLast + 1) / grain * grain) - 1;
        return aligned >= first ? aligned : gapLast;
    }
}
