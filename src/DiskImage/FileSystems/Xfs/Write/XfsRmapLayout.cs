using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// The reverse mappings of one allocation group as a bulk load writes them (<c>xfs_rmap_rec</c>): every used block
/// with its owner — the header sectors (<c>OWN_FS</c>), the internal log (<c>OWN_LOG</c>), the free-space and
/// reverse-mapping btrees and the AGFL blocks (<c>OWN_AG</c>), the inode btrees (<c>OWN_INOBT</c>), the inode chunks
/// (<c>OWN_INODES</c>), the refcount btree (<c>OWN_REFC</c>), and per inode its data and attribute fork extents (with the
/// attribute-fork flag) and bmbt blocks (bmbt-block flag). Records are sorted by start block, owner and offset, and
/// neighbours of one owner that continue each other (on disk and, for file data, in the file) are merged, as the
/// kernel merges them and as <c>xfs_repair</c> expects them.
/// </summary>
internal static class XfsRmapLayout
{
    public const ulong OwnFs = unchecked((ulong)-3L);
    public const ulong OwnLog = unchecked((ulong)-4L);
    public const ulong OwnAg = unchecked((ulong)-5L);
    public const ulong OwnInobt = unchecked((ulong)-6L);
    public const ulong OwnInodes = unchecked((ulong)-7L);
    public const ulong OwnRefcount = unchecked((ulong)-8L);
    public const ulong AttrForkFlag = 1UL << 63;
    public const ulong BmbtBlockFlag = 1UL << 62;
    public const ulong OffsetMask = (1UL << 54) - 1;
    private const uint MaxLength = uint.MaxValue;

    /// <summary>Whether <paramref name="owner"/> is one of the special (negative) owners, not an inode.</summary>
    public static bool IsSpecialOwner(ulong owner) => owner >= unchecked((ulong)-9L);

    /// <summary>The mappings of every item's forks, by AG.</summary>
    public static List<XfsRmap>[] InodeMappings(XfsGeometry g, List<XfsBuildItem> items)
    {
        var result = new List<XfsRmap>[g.AgCount];
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            result[ag] = [];
        }

        ulong agMask = (1UL << g.AgBlockLog) - 1;
        foreach (XfsBuildItem item in items)
        {
            foreach (XfsExtentToWrite e in item.DataExtents)
            {
                result[(int)(e.FsBlock >> g.AgBlockLog)].Add(new XfsRmap((uint)(e.FsBlock & agMask), (uint)e.Count, item.Inode, (ulong)e.Logical));
            }

            foreach (XfsExtentToWrite e in item.AttrExtents)
            {
                result[(int)(e.FsBlock >> g.AgBlockLog)].Add(new XfsRmap((uint)(e.FsBlock & agMask), (uint)e.Count, item.Inode, (ulong)e.Logical | AttrForkFlag));
            }

            if (item.BmbtBlocks is { } bmbt)
            {
                foreach (ulong b in bmbt)
                {
                    result[(int)(b >> g.AgBlockLog)].Add(new XfsRmap((uint)(b & agMask), 1, item.Inode, BmbtBlockFlag));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Adds the group's own metadata: headers, btree roots, the AGFL and inode btree blocks of <paramref name="st"/>, the
    /// log, and the inode chunks (the allocated blocks of sparse ones). The caller adds the non-root blocks of the
    /// free-space and rmap btrees.
    /// </summary>
    public static void AddGroupMetadata(XfsGeometry g, int ag, XfsAgState st, List<XfsRmap> into)
    {
        into.Add(new XfsRmap(0, (uint)g.BnoRoot, OwnFs, 0));
        into.Add(new XfsRmap((uint)g.BnoRoot, 2, OwnAg, 0));
        into.Add(new XfsRmap((uint)g.InoRoot, 2, OwnInobt, 0));
        into.Add(new XfsRmap((uint)g.RmapRoot, 1, OwnAg, 0));
        if (g.Reflink)
        {
            into.Add(new XfsRmap((uint)g.RefcountRoot, 1, OwnRefcount, 0));
        }

        if (ag == g.LogAg)
        {
            into.Add(new XfsRmap((uint)g.PreallocBlocks, (uint)g.LogBlocks, OwnLog, 0));
        }

        AddBlocks(st.FreeList, OwnAg, into);
        AddBlocks(st.InobtBlocks, OwnInobt, into);
        AddBlocks(st.FinobtBlocks, OwnInobt, into);
        int ipbLog = g.InodesPerBlockLog;
        int ipb = 1 << ipbLog;
        foreach ((uint start, _, ushort holeMask) in st.Chunks)
        {
            uint first = start >> ipbLog;
            ulong holes = XfsAgState.HoleInodes(holeMask);
            for (int b = 0; b < g.ChunkBlocks; b++)
            {
                bool present = false;
                for (int i = b * ipb; i < Math.Min(64, (b + 1) * ipb); i++)
                {
                    present |= ((holes >> i) & 1) == 0;
                }

                if (present)
                {
                    into.Add(new XfsRmap(first + (uint)b, 1, OwnInodes, 0));
                }
            }
        }
    }

    private static void AddBlocks(List<int> blocks, ulong owner, List<XfsRmap> into)
    {
        foreach (int b in blocks)
        {
            into.Add(new XfsRmap((uint)b, 1, owner, 0));
        }
    }

    /// <summary>Sorts <paramref name="maps"/> and merges the neighbours that continue each other, in place.</summary>
    public static void SortAndMerge(List<XfsRmap> maps)
    {
        maps.Sort(static (a, b) =>
        {
            int c = a.Start.CompareTo(b.Start);
            if (c == 0)
            {
                c = a.Owner.CompareTo(b.Owner);
            }

            return c != 0 ? c : a.Offset.CompareTo(b.Offset);
        });
        int w = 0;
        for (int i = 0; i < maps.Count; i++)
        {
            XfsRmap m = maps[i];
            if (w > 0 && maps[w - 1] is var last && last.Owner == m.Owner && last.Start + last.Length == m.Start &&
                (last.Offset & ~OffsetMask) == (m.Offset & ~OffsetMask) && (ulong)last.Length + m.Length <= MaxLength &&
                (IsSpecialOwner(m.Owner) || (m.Offset & BmbtBlockFlag) != 0 || (last.Offset & OffsetMask) + last.Length == (m.Offset & OffsetMask)))
            {
                maps[w - 1] = last with { Length = last.Length + m.Length };
            }
            else
            {
                maps[w++] = m;
            }
        }

        maps.RemoveRange(w, maps.Count - w);
    }

    /// <summary>The on-disk records of sorted, merged <paramref name="maps"/>.</summary>
    public static byte[] Pack(List<XfsRmap> maps)
    {
        byte[] records = new byte[maps.Count * XfsRmapBtreeWriter.RecordSize];
        for (int i = 0; i < maps.Count; i++)
        {
            Span<byte> r = records.AsSpan(i * XfsRmapBtreeWriter.RecordSize);
            BinaryPrimitives.WriteUInt32BigEndian(r, maps[i].Start);
            BinaryPrimitives.WriteUInt32BigEndian(r[4..], maps[i].Length);
            BinaryPrimitives.WriteUInt64BigEndian(r[8..], maps[i].Owner);
            BinaryPrimitives.WriteUInt64BigEndian(r[16..], maps[i].Offset);
        }

        return records;
    }
}
