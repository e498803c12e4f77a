using System.Buffers.Binary;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// Validates the allocation-group headers (<c>xfs_agf</c>, <c>xfs_agi</c>, <c>xfs_agfl</c>) of every AG and walks the
/// AG btrees they root (free space by block and by count, inodes, free inodes, refcounts, reverse mappings): magic, version, sequence
/// number, length, roots and levels, free-list indices, counters, record counts, CRCs, UUIDs and owners, child levels
/// strictly decreasing, and no block reached twice (a cycle, or two trees sharing a block). The reader does not need
/// these structures (inodes are found by number), so only opening for writing runs this: a file system whose
/// allocation state is damaged is not written to.
/// </summary>
internal static class XfsAgHeaders
{
    private const uint AgfMagic = 0x58414746; // XAGF
    private const uint AgiMagic = 0x58414749; // XAGI
    private const uint AgflMagic = 0x5841464C; // XAFL
    private const uint NullAgino = 0xFFFFFFFF;
    private const int MaxLevels = 9;
    private const int UnlinkedBuckets = 64;

    /// <summary>Checks every AG of <paramref name="volume"/>.</summary>
    /// <exception cref="InvalidDataException">A header or btree block is damaged.</exception>
    public static void Validate(XfsVolume volume)
    {
        XfsSuperBlock sb = volume.SuperBlock;
        byte[] sector = new byte[sb.SectorSize];
        byte[] block = new byte[sb.BlockSize];
        var seen = new HashSet<uint>();
        for (uint ag = 0; ag < sb.AgCount; ag++)
        {
            long start = (long)ag * sb.AgBlocks * sb.BlockSize;
            uint length = (uint)Math.Min(sb.AgBlocks, sb.DataBlocks - ((long)ag * sb.AgBlocks));
            seen.Clear();
            string what = $"XFS AG {ag} AGF";
            volume.Device.ReadExactly(start + sb.SectorSize, sector);
            Header(volume, sector, AgfMagic, 216, 64, ag, length, what);
            ReadOnlySpan<byte> agf = sector;
            uint flFirst = Be32(agf, 40);
            uint flLast = Be32(agf, 44);
            uint flCount = Be32(agf, 48);
            uint freeBlocks = Be32(agf, 52);
            int slots = (sb.SectorSize - (sb.HasCrc ? 36 : 0)) / 4;
            if (flFirst >= slots || flLast >= slots || flCount > slots ||
                (flCount != 0 && ((flLast + (uint)slots - flFirst) % (uint)slots) + 1 != flCount))
            {
                FormatError.Throw(what, -1, $"free list indices {flFirst}..{flLast} ({flCount} blocks) do not fit the {slots}-slot AGFL.");
            }

            if (freeBlocks > length || Be32(agf, 56) > freeBlocks)
            {
                FormatError.Throw(what, -1, $"free block counters ({freeBlocks}, longest {Be32(agf, 56)}) exceed the AG length {length}.");
            }

            var trees = new List<(uint Root, uint Level, Tree Tree)>
            {
                (Be32(agf, 16), Be32(agf, 28), Tree.ByBlock),
                (Be32(agf, 20), Be32(agf, 32), Tree.ByCount),
            };
            if ((sb.ReadOnlyCompatible & XfsReadOnlyCompatibleFeatures.Reflink) != 0)
            {
                trees.Add((Be32(agf, 88), Be32(agf, 92), Tree.Refcount));
            }

            if ((sb.ReadOnlyCompatible & XfsReadOnlyCompatibleFeatures.ReverseMapBtree) != 0 && sb.HasCrc)
            {
                trees.Add((Be32(agf, 24), Be32(agf, 36), Tree.ReverseMap));
            }

            byte[] agfl = new byte[sb.SectorSize];
            volume.Device.ReadExactly(start + (3L * sb.SectorSize), agfl);
            if (sb.HasCrc)
            {
                Header(volume, agfl, AgflMagic, 32, 8, ag, length, $"XFS AG {ag} AGFL", checkLength: false);
            }

            for (uint i = 0, slot = flFirst; i < flCount; i++, slot = (slot + 1) % (uint)slots)
            {
                uint b = Be32(agfl, (sb.HasCrc ? 36 : 0) + (int)(slot * 4));
                if (b >= length || !seen.Add(b))
                {
                    FormatError.Throw($"XFS AG {ag} AGFL", -1, $"slot {slot} holds block {b}, outside the AG or used twice.");
                }
            }

            what = $"XFS AG {ag} AGI";
            volume.Device.ReadExactly(start + (2L * sb.SectorSize), sector);
            Header(volume, sector, AgiMagic, 312, 296, ag, length, what);
            ReadOnlySpan<byte> agi = sector;
            if (Be32(agi, 28) > Be32(agi, 16))
            {
                FormatError.Throw(what, -1, $"{Be32(agi, 28)} free inodes of {Be32(agi, 16)}.");
            }

            uint maxAgino = length << sb.InodesPerBlockLog;
            for (int i = 0; i < 2 + UnlinkedBuckets; i++)
            {
                uint agino = Be32(agi, i < 2 ? 32 + (4 * i) : 40 + (4 * (i - 2)));
                if (agino != NullAgino && agino >= maxAgino)
                {
                    FormatError.Throw(what, -1, $"inode {agino} (new, directory or unlinked list) is outside the AG.");
                }
            }

            trees.Add((Be32(agi, 20), Be32(agi, 24), Tree.Inodes));
            if ((sb.ReadOnlyCompatible & XfsReadOnlyCompatibleFeatures.FreeInodeBtree) != 0)
            {
                trees.Add((Be32(agi, 328), Be32(agi, 332), Tree.FreeInodes));
            }

            foreach ((uint root, uint level, Tree tree) in trees)
            {
                if (level is < 1 or > MaxLevels)
                {
                    FormatError.Throw($"XFS AG {ag} {tree} btree", -1, $"root level {level} is not 1..{MaxLevels}.");
                }

                Walk(volume, ag, length, root, (int)level - 1, tree, block, seen);
            }
        }
    }

    private enum Tree
    {
        ByBlock,
        ByCount,
        Inodes,
        FreeInodes,
        Refcount,
        ReverseMap,
    }

    /// <summary>Checks the fields every AG header shares: magic, version 1, sequence number, length, CRC and UUID.</summary>
    private static void Header(XfsVolume volume, ReadOnlySpan<byte> s, uint magic, int crcOffset, int uuidOffset, uint ag, uint length, string what, bool checkLength = true)
    {
        XfsSuperBlock sb = volume.SuperBlock;
        bool agfl = magic == AgflMagic;
        if (Be32(s, 0) != magic || (!agfl && Be32(s, 4) != 1) || Be32(s, agfl ? 4 : 8) != ag)
        {
            FormatError.Throw(what, -1, "bad magic, version or sequence number.");
        }

        if (checkLength && Be32(s, 12) != length)
        {
            FormatError.Throw(what, -1, $"length {Be32(s, 12)} is not the AG's {length} blocks.");
        }

        if (sb.HasCrc)
        {
            if (volume.VerifyChecksums && !XfsChecksum.IsValid(s, crcOffset))
            {
                FormatError.Throw(what, -1, "checksum mismatch.");
            }

            if (new Guid(s.Slice(uuidOffset, 16), bigEndian: true) != sb.MetaUuid)
            {
                FormatError.Throw(what, -1, "belongs to another file system (uuid).");
            }
        }
    }

    /// <summary>Walks one short-form btree block and its children; each block may be reached once per AG.</summary>
    private static void Walk(XfsVolume volume, uint ag, uint length, uint agBlock, int level, Tree tree, byte[] scratch, HashSet<uint> seen)
    {
        XfsSuperBlock sb = volume.SuperBlock;
        string what = $"XFS AG {ag} {tree} btree";
        if (agBlock == 0 || agBlock >= length || !seen.Add(agBlock))
        {
            FormatError.Throw(what, -1, $"block {agBlock} is outside the AG or reached twice (a cycle).");
        }

        ulong fsBlock = ((ulong)ag << sb.AgBlockLog) | agBlock;
        volume.ReadBlocks(fsBlock, scratch, what);
        ReadOnlySpan<byte> b = scratch;
        (uint v5, uint v4, int keySize, int recordSize) = tree switch
        {
            Tree.ByBlock => (0x41423342u, 0x41425442u, 8, 8),
            Tree.ByCount => (0x41423343u, 0x41425443u, 8, 8),
            Tree.Inodes => (0x49414233u, 0x49414254u, 4, 16),
            Tree.FreeInodes => (0x46494233u, 0x46494254u, 4, 16),
            Tree.ReverseMap => (0x524D4233u, 0u, 40, 24), // node entries: a low and a high 20-byte key
            _ => (0x52334643u, 0u, 4, 12),
        };
        int header = sb.HasCrc ? 56 : 16;
        if (Be32(b, 0) != (sb.HasCrc ? v5 : v4))
        {
            FormatError.Throw(what, -1, $"block {agBlock} has a bad magic.");
        }

        if (sb.HasCrc)
        {
            if (volume.VerifyChecksums && !XfsChecksum.IsValid(b, 52))
            {
                FormatError.Throw(what, -1, $"block {agBlock}: checksum mismatch.");
            }

            if (BinaryPrimitives.ReadUInt64BigEndian(b[16..]) != volume.DiskAddress(fsBlock) || Be32(b, 48) != ag ||
                new Guid(b.Slice(32, 16), bigEndian: true) != sb.MetaUuid)
            {
                FormatError.Throw(what, -1, $"block {agBlock} records another address, owner or file system.");
            }
        }

        int blockLevel = BinaryPrimitives.ReadUInt16BigEndian(b[4..]);
        int count = BinaryPrimitives.ReadUInt16BigEndian(b[6..]);
        int maxRecords = (b.Length - header) / (level == 0 ? recordSize : keySize + 4);
        if (blockLevel != level || count > maxRecords || (count == 0 && level > 0))
        {
            FormatError.Throw(what, -1, $"block {agBlock}: level {blockLevel} (expected {level}) with {count} records is not valid.");
        }

        if (level == 0)
        {
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<byte> r = b.Slice(header + (i * recordSize), recordSize);
                ulong first = tree is Tree.Inodes or Tree.FreeInodes ? Be32(r, 0) >> sb.InodesPerBlockLog : Be32(r, 0) & 0x7FFFFFFF;
                ulong blocks = tree switch
                {
                    Tree.Inodes or Tree.FreeInodes => 1,
                    Tree.Refcount => Be32(r, 4),
                    _ => Be32(r, 4),
                };
                if (first + blocks > length)
                {
                    FormatError.Throw(what, -1, $"block {agBlock} record {i} (block {first}, {blocks} blocks) runs past the AG.");
                }
            }

            return;
        }

        uint[] children = new uint[count];
        for (int i = 0; i < count; i++)
        {
            children[i] = Be32(b, header + (maxRecords * keySize) + (i * 4));
        }

        foreach (uint child in children)
        {
            Walk(volume, ag, length, child, level - 1, tree, scratch, seen);
        }
    }

    private static uint Be32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32BigEndian(s[o..]);
}
