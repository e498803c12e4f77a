using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Reads the inode chunks of every allocation group from its inode btree (AGI root, <c>IAB3</c> blocks of any depth),
/// so that a flush keeps every chunk, and with it every inode number, where it is.
/// </summary>
internal static class XfsExistingChunks
{
    private const uint AgiMagic = 0x58414749;
    private const uint InobtMagic = 0x49414233;
    private const int HeaderSize = XfsShortBtreeWriter.HeaderSize;
    private const int MaxLevels = 9;

    /// <summary>The chunks of each group, sorted by first inode.</summary>
    /// <exception cref="InvalidDataException">An AGI or inode btree block is malformed.</exception>
    public static List<XfsExistingChunk>[] Read(BlockDevice device, XfsGeometry g, int sectorSize)
    {
        var result = new List<XfsExistingChunk>[g.AgCount];
        byte[] sector = new byte[sectorSize];
        byte[] block = new byte[g.BlockSize];
        int agBlocks = g.AgBlocks;
        for (int ag = 0; ag < g.AgCount; ag++)
        {
            var chunks = new List<XfsExistingChunk>();
            result[ag] = chunks;
            device.ReadExactly(g.ByteOffset(ag, 0) + (2L * sectorSize), sector);
            if (BinaryPrimitives.ReadUInt32BigEndian(sector) != AgiMagic)
            {
                FormatError.Throw($"XFS AGI {ag}", 0, "bad magic.");
            }

            uint root = BinaryPrimitives.ReadUInt32BigEndian(sector.AsSpan(20));
            int levels = BinaryPrimitives.ReadInt32BigEndian(sector.AsSpan(24));
            if (levels is < 1 or > MaxLevels || root == 0 || root >= (uint)g.AgLength(ag))
            {
                FormatError.Throw($"XFS AGI {ag}", 20, $"inode btree root {root} with {levels} levels is not valid.");
            }

            var pending = new Stack<(uint Block, int Level)>();
            pending.Push((root, levels - 1));
            int visited = 0;
            while (pending.Count > 0)
            {
                (uint b, int level) = pending.Pop();
                if (++visited > agBlocks || b == 0 || b >= (uint)g.AgLength(ag))
                {
                    FormatError.Throw($"XFS AG {ag} inode btree", -1, "points outside the group or loops.");
                }

                device.ReadExactly(g.ByteOffset(ag, b), block);
                int n = BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(6));
                if (BinaryPrimitives.ReadUInt32BigEndian(block) != InobtMagic || BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(4)) != level)
                {
                    FormatError.Throw($"XFS AG {ag} inode btree block {b}", 0, "bad magic or level.");
                }

                if (level == 0)
                {
                    if (n > (g.BlockSize - HeaderSize) / 16)
                    {
                        FormatError.Throw($"XFS AG {ag} inode btree block {b}", 6, "too many records.");
                    }

                    for (int i = 0; i < n; i++)
                    {
                        ReadOnlySpan<byte> r = block.AsSpan(HeaderSize + (i * 16), 16);
                        ushort holes = g.Sparse ? BinaryPrimitives.ReadUInt16BigEndian(r[4..]) : (ushort)0;
                        chunks.Add(new XfsExistingChunk(BinaryPrimitives.ReadUInt32BigEndian(r), holes, BinaryPrimitives.ReadUInt64BigEndian(r[8..])));
                    }
                }
                else
                {
                    int max = (g.BlockSize - HeaderSize) / 8;
                    if (n > max)
                    {
                        FormatError.Throw($"XFS AG {ag} inode btree block {b}", 6, "too many keys.");
                    }

                    // Children pushed right to left, so leaves come out in key order.
                    for (int i = n - 1; i >= 0; i--)
                    {
                        pending.Push((BinaryPrimitives.ReadUInt32BigEndian(block.AsSpan(HeaderSize + (max * 4) + (i * 4))), level - 1));
                    }
                }
            }

            chunks.Sort(static (a, b) => a.StartAgino.CompareTo(b.StartAgino));
        }

        return result;
    }
}
