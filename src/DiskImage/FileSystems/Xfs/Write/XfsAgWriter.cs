using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Writes the per-group headers of a new file system: superblock copies, AGF, AGI and AGFL (<c>xfs_format.h</c>),
/// the free-space, inode, refcount and reverse-mapping btrees, and the internal log holding only an unmount record, as mkfs.xfs leaves it.
/// </summary>
internal sealed class XfsAgWriter(XfsGeometry g, BlockDevice device, byte[] uuid)
{
    private const uint NullAgBlock = uint.MaxValue;

    /// <summary>Writes every AG's headers and btrees; returns (icount, ifree, fdblocks) summed over the groups.</summary>
    public (long ICount, long IFree, long FreeBlocks) WriteGroups(XfsSpaceAllocator space, XfsAgState[] states)
    {
        long icount = 0, ifree = 0, fdblocks = 0;
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            XfsAgState st = states[ag];
            int sector = XfsGeometry.SectorSize;
            IReadOnlyList<(int Start, int Length)> free = space.Free(ag);
            if (XfsShortBtreeWriter.BlocksNeeded(free.Count, g.BlockSize, 8, 8) > st.BnoBlocks.Count + 1 ||
                XfsShortBtreeWriter.BlocksNeeded(free.Count, g.BlockSize, 8, 8) > st.CntBlocks.Count + 1)
            {
                throw new NotSupportedException($"AG {ag} has {free.Count} free extents, more than its free-space btree blocks hold.");
            }

            // Free-space btrees.
            byte[] bno = new byte[free.Count * 8];
            long freeBlocks = 0;
            int longest = 0;
            for (int i = 0; i < free.Count; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(bno.AsSpan(i * 8), free[i].Start);
                BinaryPrimitives.WriteInt32BigEndian(bno.AsSpan((i * 8) + 4), free[i].Length);
                freeBlocks += free[i].Length;
                longest = Math.Max(longest, free[i].Length);
            }

            var byCount = new List<(int Start, int Length)>(free);
            byCount.Sort(static (a, b) => a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.Start.CompareTo(b.Start));
            byte[] cnt = new byte[free.Count * 8];
            for (int i = 0; i < byCount.Count; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(cnt.AsSpan(i * 8), byCount[i].Start);
                BinaryPrimitives.WriteInt32BigEndian(cnt.AsSpan((i * 8) + 4), byCount[i].Length);
            }

            int bnoLevel = XfsShortBtreeWriter.Write(g, ag, uuid, 0x41423342, bno, 8, 8, [.. st.BnoBlocks, g.BnoRoot], WriteBlock(ag));
            int cntLevel = XfsShortBtreeWriter.Write(g, ag, uuid, 0x41423343, cnt, 8, 8, [.. st.CntBlocks, g.CntRoot], WriteBlock(ag));
            int btreeBlocks = st.BnoBlocks.Count + st.CntBlocks.Count;
            int rmapLevel = 0;
            if (g.Rmap)
            {
                rmapLevel = XfsRmapBtreeWriter.Write(g, ag, uuid, st.RmapRecords, [.. st.RmapBlocks, g.RmapRoot], WriteBlock(ag));
                btreeBlocks += st.RmapBlocks.Count;
            }

            // Inode btrees.
            byte[] ino = new byte[st.Chunks.Count * 16];
            var fino = new List<byte>();
            int agFree = 0;
            int agCount = 0;
            for (int c = 0; c < st.Chunks.Count; c++)
            {
                (uint start, ulong mask, ushort holes) = st.Chunks[c];
                int nfree = BitOperations.PopCount(mask & ~XfsAgState.HoleInodes(holes));
                int present = 64 - (4 * BitOperations.PopCount((uint)holes));
                agFree += nfree;
                agCount += present;
                Span<byte> r = ino.AsSpan(c * 16, 16);
                BinaryPrimitives.WriteUInt32BigEndian(r, start);
                if (g.Sparse)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(r[4..], holes);
                    r[6] = (byte)present;
                    r[7] = (byte)nfree;
                }
                else
                {
                    BinaryPrimitives.WriteInt32BigEndian(r[4..], nfree);
                }

                BinaryPrimitives.WriteUInt64BigEndian(r[8..], mask);
                if (nfree > 0)
                {
                    fino.AddRange(r.ToArray());
                }
            }

            var inoBlocks = new List<int>(st.InobtBlocks) { g.InoRoot };
            var finoBlocks = new List<int>(st.FinobtBlocks) { g.FinoRoot };
            int inoLevel = XfsShortBtreeWriter.Write(g, ag, uuid, 0x49414233, ino, 16, 4, inoBlocks, WriteBlock(ag));
            int finoLevel = XfsShortBtreeWriter.Write(g, ag, uuid, 0x46494233, fino.ToArray(), 16, 4, finoBlocks, WriteBlock(ag));
            if (g.Reflink)
            {
                XfsShortBtreeWriter.Write(g, ag, uuid, 0x52334643, [], 12, 8, [g.RefcountRoot], WriteBlock(ag));
            }

            // AGFL.
            byte[] agfl = new byte[sector];
            BinaryPrimitives.WriteUInt32BigEndian(agfl, 0x5841464C);
            BinaryPrimitives.WriteInt32BigEndian(agfl.AsSpan(4), ag);
            uuid.CopyTo(agfl.AsSpan(8));
            agfl.AsSpan(36).Fill(0xFF);
            for (int i = 0; i < st.FreeList.Count; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(agfl.AsSpan(36 + ((i + 1) * 4)), st.FreeList[i]);
            }

            XfsChecksum.Update(agfl, 32);
            device.Write(g.ByteOffset(ag, 0) + (3 * sector), agfl);

            // AGF.
            byte[] agf = new byte[sector];
            BinaryPrimitives.WriteUInt32BigEndian(agf, 0x58414746);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(4), 1);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(8), ag);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(12), g.AgLength(ag));
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(16), g.BnoRoot);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(20), g.CntRoot);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(28), bnoLevel);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(32), cntLevel);
            if (g.Rmap)
            {
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(24), g.RmapRoot);
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(36), rmapLevel);
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(80), st.RmapBlocks.Count + 1);
            }

            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(40), st.FreeList.Count > 0 ? 1 : 0);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(44), st.FreeList.Count);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(48), st.FreeList.Count);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(52), (int)freeBlocks);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(56), longest);
            BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(60), btreeBlocks);
            uuid.CopyTo(agf.AsSpan(64));
            if (g.Reflink)
            {
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(84), 1);
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(88), g.RefcountRoot);
                BinaryPrimitives.WriteInt32BigEndian(agf.AsSpan(92), 1);
            }

            XfsChecksum.Update(agf, 216);
            device.Write(g.ByteOffset(ag, 0) + sector, agf);

            // AGI.
            byte[] agi = new byte[sector];
            BinaryPrimitives.WriteUInt32BigEndian(agi, 0x58414749);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(4), 1);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(8), ag);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(12), g.AgLength(ag));
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(16), agCount);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(20), g.InoRoot);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(24), inoLevel);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(28), agFree);
            BinaryPrimitives.WriteUInt32BigEndian(agi.AsSpan(32), st.Chunks.Count > 0 ? st.Chunks[^1].StartAgino : NullAgBlock);
            BinaryPrimitives.WriteUInt32BigEndian(agi.AsSpan(36), NullAgBlock);
            agi.AsSpan(40, 256).Fill(0xFF);
            uuid.CopyTo(agi.AsSpan(296));
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(328), g.FinoRoot);
            BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(332), finoLevel);
            if (g.InobtCount)
            {
                BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(336), inoBlocks.Count);
                BinaryPrimitives.WriteInt32BigEndian(agi.AsSpan(340), finoBlocks.Count);
            }

            XfsChecksum.Update(agi, 312);
            device.Write(g.ByteOffset(ag, 0) + (2 * sector), agi);

            icount += agCount;
            ifree += agFree;
            fdblocks += freeBlocks + st.FreeList.Count + btreeBlocks;
        }

        return (icount, ifree, fdblocks);
    }

    /// <summary>Writes the primary superblock and a copy at the start of every other group.</summary>
    public void WriteSuperblocks(string label, long icount, long ifree, long fdblocks)
    {
        byte[] sb = new byte[XfsGeometry.SectorSize];
        Span<byte> s = sb;
        BinaryPrimitives.WriteUInt32BigEndian(s, XfsSuperBlock.Magic);
        BinaryPrimitives.WriteInt32BigEndian(s[4..], g.BlockSize);
        BinaryPrimitives.WriteInt64BigEndian(s[8..], g.DataBlocks);
        uuid.CopyTo(s[32..]);
        BinaryPrimitives.WriteInt64BigEndian(s[48..], g.LogStart);
        BinaryPrimitives.WriteUInt64BigEndian(s[56..], g.RootInode);
        BinaryPrimitives.WriteUInt64BigEndian(s[64..], g.RootInode + 1);
        BinaryPrimitives.WriteUInt64BigEndian(s[72..], g.RootInode + 2);
        BinaryPrimitives.WriteInt32BigEndian(s[80..], Math.Max(1, 4096 >> g.BlockLog)); // rextsize: mkfs.xfs uses 4 KiB without a realtime device
        BinaryPrimitives.WriteInt32BigEndian(s[84..], g.AgBlocks);
        BinaryPrimitives.WriteInt32BigEndian(s[88..], g.AgCount);
        BinaryPrimitives.WriteInt32BigEndian(s[96..], g.LogBlocks);
        BinaryPrimitives.WriteUInt16BigEndian(s[100..], 0xB4A5);
        BinaryPrimitives.WriteUInt16BigEndian(s[102..], XfsGeometry.SectorSize);
        BinaryPrimitives.WriteUInt16BigEndian(s[104..], (ushort)g.InodeSize);
        BinaryPrimitives.WriteUInt16BigEndian(s[106..], (ushort)(g.BlockSize / g.InodeSize));
        Encoding.UTF8.GetBytes(label, s.Slice(108, 12));
        s[120] = (byte)g.BlockLog;
        s[121] = 9;
        s[122] = (byte)g.InodeLog;
        s[123] = (byte)g.InodesPerBlockLog;
        s[124] = (byte)g.AgBlockLog;
        long tb = (1L << 40) >> g.BlockLog;
        s[127] = (byte)(g.DataBlocks < tb ? 25 : g.DataBlocks < 50 * tb ? 5 : 1);
        BinaryPrimitives.WriteInt64BigEndian(s[128..], icount);
        BinaryPrimitives.WriteInt64BigEndian(s[136..], ifree);
        BinaryPrimitives.WriteInt64BigEndian(s[144..], fdblocks);
        BinaryPrimitives.WriteInt32BigEndian(s[180..], g.InodeAlign);
        s[192] = (byte)g.DirBlockLog;
        BinaryPrimitives.WriteInt32BigEndian(s[196..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(s[200..], 0x18A);
        BinaryPrimitives.WriteUInt32BigEndian(s[204..], 0x18A);
        BinaryPrimitives.WriteUInt32BigEndian(s[212..], (uint)g.ReadOnlyCompatible);
        BinaryPrimitives.WriteUInt32BigEndian(s[216..], (uint)g.Incompatible);
        BinaryPrimitives.WriteInt32BigEndian(s[228..], g.SparseAlign);
        XfsChecksum.Update(sb, 224);
        for (int ag = g.AgCount - 1; ag >= 0; ag--)
        {
            device.Write(g.ByteOffset(ag, 0), sb);
        }
    }

    /// <summary>Zeroes the internal log and writes one unmount record at its start (cycle 1), as <c>libxfs_log_clear</c> does.</summary>
    public void WriteLog()
    {
        long start = g.ByteOffset(g.LogAg, g.PreallocBlocks);
        device.WriteZeroes(start, (long)g.LogBlocks << g.BlockLog);
        byte[] rec = new byte[1024];
        Span<byte> h = rec;
        BinaryPrimitives.WriteUInt32BigEndian(h, 0xFEEDBABE);
        BinaryPrimitives.WriteInt32BigEndian(h[4..], 1);
        BinaryPrimitives.WriteInt32BigEndian(h[8..], 2);
        BinaryPrimitives.WriteInt32BigEndian(h[12..], 512);
        BinaryPrimitives.WriteUInt64BigEndian(h[16..], 1UL << 32);
        BinaryPrimitives.WriteUInt64BigEndian(h[24..], 1UL << 32);
        BinaryPrimitives.WriteInt32BigEndian(h[36..], -1);
        BinaryPrimitives.WriteInt32BigEndian(h[40..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(h[44..], 0xB0C0D0D0);
        BinaryPrimitives.WriteInt32BigEndian(h[300..], 1);
        uuid.CopyTo(h[304..]);
        BinaryPrimitives.WriteInt32BigEndian(h[320..], 32768);
        Span<byte> op = h[512..];
        BinaryPrimitives.WriteInt32BigEndian(op, 1);
        BinaryPrimitives.WriteInt32BigEndian(op[4..], 8);
        op[8] = 0xAA;
        op[9] = 0x20;
        BinaryPrimitives.WriteUInt16LittleEndian(op[12..], 0x556E);
        device.Write(start, rec);
    }

    private Action<int, byte[]> WriteBlock(int ag) => (block, data) => device.Write(g.ByteOffset(ag, block), data);
}
