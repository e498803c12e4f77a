using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

// The in-place layout of XfsBuilder, used when a flush writes over an existing file system: every inode
// chunk stays where it is (so every inode keeps its number), unchanged files keep their data extents, new inodes take
// free slots of existing chunks before new chunks are allocated, and only metadata and new or changed content is
// allocated, from the space left free.
internal sealed partial class XfsBuilder
{
    private readonly List<XfsExistingChunk>[]? _kept;
    private readonly BlockDevice? _original;
    private readonly Dictionary<(int Ag, uint Start), ulong> _oldFree = [];

    private void LayoutInPlace(XfsGeometry g)
    {
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            _states[ag] = new XfsAgState();
            _space.Reserve(ag, 0, g.PreallocBlocks);
            if (ag == g.LogAg)
            {
                _space.Reserve(ag, g.PreallocBlocks, g.LogBlocks);
            }
        }

        _oldFree.Clear();
        PinChunks(g);
        PinData(g);
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            for (int i = 0; i < g.FreeListLength; i++)
            {
                int b = _space.AllocateIn(ag, 1, 1);
                if (b < 0)
                {
                    throw new IOException("The tree does not fit in the XFS file system (no room for the free list).");
                }

                _states[ag].FreeList.Add(b);
            }
        }

        AssignInodes(g);
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            XfsAgState st = _states[ag];
            st.Chunks.Sort(static (a, b) => a.StartAgino.CompareTo(b.StartAgino));
            int freeChunks = 0;
            foreach ((_, ulong free, ushort holes) in st.Chunks)
            {
                freeChunks += (free & ~XfsAgState.HoleInodes(holes)) != 0 ? 1 : 0;
            }

            AllocateBtreeBlocks(ag, XfsShortBtreeWriter.BlocksNeeded(st.Chunks.Count, g.BlockSize, 16, 4) - 1, st.InobtBlocks);
            AllocateBtreeBlocks(ag, XfsShortBtreeWriter.BlocksNeeded(freeChunks, g.BlockSize, 16, 4) - 1, st.FinobtBlocks);
        }

        LayoutItems();
    }

    private void AllocateBtreeBlocks(int ag, int count, List<int> into)
    {
        for (int i = 0; i < count; i++)
        {
            int b = _space.AllocateIn(ag, 1, 1);
            if (b < 0)
            {
                throw new IOException("The tree does not fit in the XFS file system (no room for the inode btrees).");
            }

            into.Add(b);
        }
    }

    /// <summary>Reserves the blocks of every existing chunk (the allocated parts of sparse ones).</summary>
    private void PinChunks(XfsGeometry g)
    {
        int ipbLog = g.InodesPerBlockLog;
        int ipb = 1 << ipbLog;
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            foreach (XfsExistingChunk c in _kept![ag])
            {
                if ((c.StartAgino & (uint)(ipb - 1)) != 0 || (c.HoleMask != 0 && !g.Sparse))
                {
                    throw new XfsLayoutConflictException($"AG {ag}: inode chunk {c.StartAgino} does not start on a block.");
                }

                long first = c.StartAgino >> ipbLog;
                ulong holes = XfsAgState.HoleInodes(c.HoleMask);
                int run = -1;
                for (int b = 0; b <= g.ChunkBlocks; b++)
                {
                    bool present = false;
                    if (b < g.ChunkBlocks)
                    {
                        for (int i = b * ipb; i < Math.Min(64, (b + 1) * ipb); i++)
                        {
                            present |= ((holes >> i) & 1) == 0;
                        }
                    }

                    if (present && run < 0)
                    {
                        run = b;
                    }
                    else if (!present && run >= 0)
                    {
                        if (!_space.IsFree(ag, first + run, b - run))
                        {
                            throw new XfsLayoutConflictException($"AG {ag}: inode chunk {c.StartAgino} overlaps blocks the layout reserves.");
                        }

                        _space.Reserve(ag, (int)(first + run), b - run);
                        run = -1;
                    }
                }

                _states[ag].Chunks.Add((c.StartAgino, ~0UL, c.HoleMask));
                _oldFree[(ag, c.StartAgino)] = c.FreeMask | holes;
            }
        }
    }

    /// <summary>Reserves the data extents of unchanged files; a file whose extents are not all free (shared) is copied instead.</summary>
    private void PinData(XfsGeometry g)
    {
        ulong agMask = (1UL << g.AgBlockLog) - 1;
        foreach (XfsBuildItem item in _items)
        {
            item.DataInPlace = false;
            if (item.KeptData is not { } extents || item.Info.Type != UnixFileType.RegularFile)
            {
                continue;
            }

            bool free = true;
            foreach (XfsExtentToWrite e in extents)
            {
                free &= _space.IsFree((int)(e.FsBlock >> g.AgBlockLog), (long)(e.FsBlock & agMask), e.Count);
            }

            if (free)
            {
                foreach (XfsExtentToWrite e in extents)
                {
                    _space.Reserve((int)(e.FsBlock >> g.AgBlockLog), (int)(e.FsBlock & agMask), e.Count);
                }

                item.DataInPlace = true;
            }
        }
    }

    /// <summary>Keeps every kept inode number; gives new entries free slots of existing chunks, then of new chunks.</summary>
    private void AssignInodes(XfsGeometry g)
    {
        if (!Claim(g, g.RootInode) || !Claim(g, g.RootInode + 1) || !Claim(g, g.RootInode + 2))
        {
            throw new XfsLayoutConflictException("The root and realtime inodes are not where the layout puts them.");
        }

        _items[0].Inode = g.RootInode;
        for (int k = 1; k < _items.Count; k++)
        {
            XfsBuildItem item = _items[k];
            item.Inode = item.KeptInode != 0 && item.KeptInode != g.RootInode && Claim(g, item.KeptInode) ? item.KeptInode : 0;
        }

        int ag = 0, chunk = 0;
        for (int k = 1; k < _items.Count; k++)
        {
            XfsBuildItem item = _items[k];
            if (item.Inode != 0)
            {
                continue;
            }

            while (true)
            {
                if (ag == g.AgCount)
                {
                    (int nag, int block) = _space.AllocateContiguous(g.ChunkBlocks, g.InodeAlign);
                    List<(uint StartAgino, ulong FreeMask, ushort HoleMask)> list = _states[nag].Chunks;
                    list.Add(((uint)(block << g.InodesPerBlockLog), ~0UL, 0));
                    ag = nag;
                    chunk = list.Count - 1;
                }

                List<(uint StartAgino, ulong FreeMask, ushort HoleMask)> chunks = _states[ag].Chunks;
                if (chunk >= chunks.Count)
                {
                    ag++;
                    chunk = 0;
                    continue;
                }

                (uint start, ulong free, ushort holes) = chunks[chunk];
                ulong usable = free & ~XfsAgState.HoleInodes(holes);
                if (usable == 0)
                {
                    chunk++;
                    continue;
                }

                int slot = System.Numerics.BitOperations.TrailingZeroCount(usable);
                chunks[chunk] = (start, free & ~(1UL << slot), holes);
                uint agino = start + (uint)slot;
                item.Inode = g.InodeNumber(ag, agino >> g.InodesPerBlockLog, (int)(agino & ((1u << g.InodesPerBlockLog) - 1)));
                break;
            }
        }
    }

    /// <summary>Marks inode <paramref name="ino"/> used in its existing chunk; false when it is in none, in a hole or already used.</summary>
    private bool Claim(XfsGeometry g, ulong ino)
    {
        int shift = g.AgBlockLog + g.InodesPerBlockLog;
        int ag = (int)(ino >> shift);
        if (ag >= g.AgCount)
        {
            return false;
        }

        uint agino = (uint)(ino & ((1UL << shift) - 1));
        List<(uint StartAgino, ulong FreeMask, ushort HoleMask)> chunks = _states[ag].Chunks;
        int lo = 0, hi = chunks.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            (uint start, ulong free, ushort holes) = chunks[mid];
            if (agino < start)
            {
                hi = mid - 1;
            }
            else if (agino >= start + 64)
            {
                lo = mid + 1;
            }
            else
            {
                ulong bit = 1UL << (int)(agino - start);
                if ((free & bit) == 0 || (XfsAgState.HoleInodes(holes) & bit) != 0)
                {
                    return false;
                }

                chunks[mid] = (start, free & ~bit, holes);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Writes every chunk: the inodes of items regenerated, slots freed since the last flush as free inodes, everything
    /// else (slots free before and after, the realtime inodes) as the device holds it; holes of sparse chunks are not written.
    /// </summary>
    private void WriteInodesInPlace(XfsGeometry g, BlockDevice device, XfsForkWriter writer, byte[] uuid)
    {
        var byInode = new Dictionary<ulong, XfsBuildItem>(_items.Count);
        foreach (XfsBuildItem item in _items)
        {
            byInode[item.Inode] = item;
        }

        int isz = g.InodeSize;
        int ipb = 1 << g.InodesPerBlockLog;
        byte[] buf = new byte[g.ChunkBlocks * g.BlockSize];
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            foreach ((uint start, ulong free, ushort holes) in _states[ag].Chunks)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                int block = (int)(start >> g.InodesPerBlockLog);
                long offset = g.ByteOffset(ag, block);
                bool existing = _oldFree.TryGetValue((ag, start), out ulong oldFree);
                if (existing)
                {
                    _original!.ReadExactly(offset, buf);
                }
                else
                {
                    Array.Clear(buf);
                }

                ulong holeBits = XfsAgState.HoleInodes(holes);
                for (int slot = 0; slot < 64; slot++)
                {
                    if (((holeBits >> slot) & 1) != 0)
                    {
                        continue;
                    }

                    ulong ino = g.InodeNumber(ag, block + (slot / ipb), slot % ipb);
                    Span<byte> inode = buf.AsSpan(slot * isz, isz);
                    if (byInode.TryGetValue(ino, out XfsBuildItem? item))
                    {
                        writer.Write(item, inode);
                    }
                    else if (((free >> slot) & 1) != 0 && !(existing && ((oldFree >> slot) & 1) != 0))
                    {
                        XfsNewInode.WriteFree(inode, uuid, ino);
                    }
                }

                for (int i = 0; i < 64;)
                {
                    if (((holeBits >> i) & 1) != 0)
                    {
                        i++;
                        continue;
                    }

                    int j = i;
                    while (j < 64 && ((holeBits >> j) & 1) == 0)
                    {
                        j++;
                    }

                    device.Write(offset + ((long)i * isz), buf.AsSpan(i * isz, (j - i) * isz));
                    i = j;
                }
            }
        }

        writer.Finish();
    }
}
