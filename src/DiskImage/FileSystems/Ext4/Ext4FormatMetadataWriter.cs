using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Writes the metadata that closes a format or build: the special inodes still missing, block and inode
/// bitmaps, group descriptors with their flags and checksums, and the superblock with its backups.
/// </summary>
internal sealed class Ext4FormatMetadataWriter(Ext4Formatter owner)
{
    private readonly Ext4Formatter _formatter = owner;

    /// <summary>
    /// Writes the reserved inodes, the journal, bitmaps, descriptors and superblocks (backups first, the primary
    /// last) from what was allocated and marked; the caller has stored inodes 2 and 11 and all of its own.
    /// </summary>
    public void Finish()
    {
        // Reserved inodes: times only, as mke2fs writes them; the journal inode.
        byte[] raw = new byte[_formatter._inodeSize];
        for (uint ino = 1; ino < Ext4Formatter.FirstInode; ino++)
        {
            if (ino == Ext4Formatter.RootInode)
            {
                continue;
            }

            Array.Clear(raw);
            if (ino == Ext4Formatter.JournalInode && _formatter._journalBlocks > 0)
            {
                UnixTime now = new(_formatter._seconds, (int)_formatter._nanos);
                _formatter.Inodes.InitInode(raw, 0x8180, 0, 0, 1, _formatter._journalBlocks * _formatter._bs, now, now, now, now);
                Ext4FormatInodeWriter.SetExtents(raw, _formatter._journalExtents, _formatter._journalLeaf);
                _formatter.Inodes.SetBlockCount(raw, _formatter._journalBlocks + (_formatter._journalLeaf != 0 ? 1 : 0));
            }
            else if (ino == Ext4Formatter.ResizeInodeNumber && _formatter._resizeInode)
            {
                _formatter.SpecialBlocks.FillResizeInode(raw);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x08), (uint)_formatter._seconds);
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x0C), (uint)_formatter._seconds);
                BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0x10), (uint)_formatter._seconds);
            }

            _formatter.StoreInode(ino, raw);
        }

        if (_formatter._orphanExtents.Count > 0)
        {
            _formatter._orphanIno = NextFreeInode();
            _formatter.MarkInodeUsed(_formatter._orphanIno, directory: false);
            Array.Clear(raw);
            UnixTime now = new(_formatter._seconds, (int)_formatter._nanos);
            long orphanBlocks = 0;
            foreach ((long _, long count) in _formatter._orphanExtents)
            {
                orphanBlocks += count;
            }

            _formatter.Inodes.InitInode(raw, 0x8180, 0, 0, 1, orphanBlocks * _formatter._bs, now, now, now, now);
            Ext4FormatInodeWriter.SetExtents(raw, _formatter._orphanExtents, 0);
            _formatter.Inodes.SetBlockCount(raw, orphanBlocks);
            _formatter.StoreInode(_formatter._orphanIno, raw);
        }

        _formatter.FlushInodes();
        _formatter._itBuffer = null;
        _formatter.SpecialBlocks.WriteResizeBlocks();
        _formatter.SpecialBlocks.WriteOrphanBlocks();

        // Every used range in block order: group tables and allocations (backup regions are added per group).
        var ranges = new List<(long Start, long Count)>(_formatter._tables.Count + _formatter._data.Count);
        int ti = 0;
        int di = 0;
        while (ti < _formatter._tables.Count || di < _formatter._data.Count)
        {
            ranges.Add(di >= _formatter._data.Count || (ti < _formatter._tables.Count && _formatter._tables[ti].Start < _formatter._data[di].Start) ? _formatter._tables[ti++] : _formatter._data[di++]);
        }

        byte[] descriptors = new byte[_formatter._gdtBlocks * _formatter._bs];
        byte[] bitmap = new byte[_formatter._bs];
        long freeBlocksTotal = 0;
        long freeInodesTotal = 0;
        int rangeIndex = 0;
        for (uint g = 0; g < _formatter._groups; g++)
        {
            long gs = _formatter.GroupStart(g);
            long ge = Math.Min(gs + _formatter._bpg, _formatter._blocks);
            Array.Clear(bitmap);
            long used = 0;
            if (_formatter.HasBackup(g))
            {
                Ext4Formatter.SetBits(bitmap, 0, _formatter.BackupBlocks);
                used += _formatter.BackupBlocks;
            }

            bool anyRange = false;
            while (rangeIndex < ranges.Count && ranges[rangeIndex].Start + ranges[rangeIndex].Count <= gs)
            {
                rangeIndex++;
            }

            for (int r = rangeIndex; r < ranges.Count && ranges[r].Start < ge; r++)
            {
                long s = Math.Max(ranges[r].Start, gs);
                long e = Math.Min(ranges[r].Start + ranges[r].Count, ge);
                if (e > s)
                {
                    Ext4Formatter.SetBits(bitmap, s - gs, e - s);
                    used += e - s;
                    anyRange = true;
                }
            }

            if (ge - gs < _formatter._bs * 8L)
            {
                // Bits past the group's end (a short last group, or groups shrunk below 8 x block size) stay set.
                Ext4Formatter.SetBits(bitmap, ge - gs, (_formatter._bs * 8L) - (ge - gs));
            }

            uint inodesUsed = _formatter._inodesUsed[g];
            ushort flags = Ext4Formatter.BgInodeZeroed;
            if (g != 0)
            {
                if (inodesUsed == 0)
                {
                    flags |= Ext4Formatter.BgInodeUninit;
                }

                if (!anyRange && g != _formatter._groups - 1)
                {
                    flags |= Ext4Formatter.BgBlockUninit;
                }
            }

            // Bitmaps of uninitialised groups are computed by their readers: holes on sparse devices, so that
            // multi-TiB file systems cost only their used metadata.
            long freeBlocks = ge - gs - used;
            freeBlocksTotal += freeBlocks;
            WriteBitmap(_formatter._blockBitmap[g], bitmap, (flags & Ext4Formatter.BgBlockUninit) != 0);
            uint blockBitmapCsum = Ext4Checksum.Crc32C(_formatter._checksumSeed, bitmap.AsSpan(0, (int)(_formatter._bpg / 8)));

            Array.Clear(bitmap);
            Ext4Formatter.SetBits(bitmap, 0, inodesUsed);
            Ext4Formatter.SetBits(bitmap, _formatter._ipg, (_formatter._bs * 8L) - _formatter._ipg);
            WriteBitmap(_formatter._inodeBitmap[g], bitmap, (flags & Ext4Formatter.BgInodeUninit) != 0);
            uint inodeBitmapCsum = Ext4Checksum.Crc32C(_formatter._checksumSeed, bitmap.AsSpan(0, (int)(_formatter._ipg / 8)));

            uint freeInodes = _formatter._ipg - inodesUsed;
            freeInodesTotal += freeInodes;
            Span<byte> d = descriptors.AsSpan((int)(g * _formatter._descSize), _formatter._descSize);
            _formatter.WriteSplit(d, 0x00, 0x20, (ulong)_formatter._blockBitmap[g]);
            _formatter.WriteSplit(d, 0x04, 0x24, (ulong)_formatter._inodeBitmap[g]);
            _formatter.WriteSplit(d, 0x08, 0x28, (ulong)_formatter._inodeTable[g]);
            _formatter.WriteSplit16(d, 0x0C, 0x2C, (uint)freeBlocks);
            _formatter.WriteSplit16(d, 0x0E, 0x2E, freeInodes);
            _formatter.WriteSplit16(d, 0x10, 0x30, _formatter._dirsUsed[g]);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x12..], flags);
            if (_formatter._metadataCsum)
            {
                _formatter.WriteSplit16(d, 0x18, 0x38, blockBitmapCsum);
                _formatter.WriteSplit16(d, 0x1A, 0x3A, inodeBitmapCsum);
            }

            _formatter.WriteSplit16(d, 0x1C, 0x32, freeInodes);
        }

        // Superblock.
        byte[] sb = new byte[Ext4SuperBlock.Size];
        _formatter.Superblocks.BuildSuperblock(sb, freeBlocksTotal, freeInodesTotal);
        byte[] groupZeroSuper = (byte[])sb.Clone();
        _formatter.Superblocks.SealSuperblock(groupZeroSuper, 0);
        Ext4SuperBlock parsed = Ext4SuperBlock.Parse(groupZeroSuper, _formatter._device!.Length, new Ext4OpenOptions());
        for (uint g = 0; g < _formatter._groups; g++)
        {
            Span<byte> d = descriptors.AsSpan((int)(g * _formatter._descSize), _formatter._descSize);
            BinaryPrimitives.WriteUInt16LittleEndian(d[0x1E..], Ext4FileSystem.DescriptorChecksum(parsed, g, d));
        }

        byte[] block = new byte[_formatter._bs];
        if (_formatter._journalBlocks > 0)
        {
            _formatter.SpecialBlocks.WriteJournal();
            if (_formatter._journalLeaf != 0)
            {
                int max = (_formatter._bs - 12) / 12;
                Ext4FormatInodeWriter.WriteExtents(block, _formatter._journalExtents, max);
                _formatter.Inodes.SealExtentBlock(Ext4Formatter.JournalInode, block);
                _formatter._device.Write(_formatter._journalLeaf * _formatter._bs, block);
            }
        }

        // Backups first, the primary superblock last.
        for (uint g = _formatter._groups - 1; g > 0; g--)
        {
            if (_formatter.HasBackup(g))
            {
                byte[] backup = (byte[])sb.Clone();
                _formatter.Superblocks.SealSuperblock(backup, g);
                long gs = _formatter.GroupStart(g);
                _formatter._device.Write(gs * _formatter._bs, backup);
                _formatter._device.Write((gs + 1) * _formatter._bs, descriptors);
            }
        }

        _formatter._device.Write((_formatter._firstData + 1) * _formatter._bs, descriptors);
        _formatter._device.Write(Ext4SuperBlock.Offset, groupZeroSuper);
        _formatter._device.Flush();
    }

    private void WriteBitmap(long block, byte[] bitmap, bool uninit)
    {
        if (uninit)
        {
            _formatter._device!.WriteZeroes(block * _formatter._bs, _formatter._bs);
        }
        else
        {
            _formatter._device!.Write(block * _formatter._bs, bitmap);
        }
    }

    /// <summary>The inode after the highest one in use (the orphan file's: 12 after a plain format).</summary>
    private uint NextFreeInode()
    {
        for (long g = _formatter._groups - 1; g >= 0; g--)
        {
            if (_formatter._inodesUsed[g] > 0)
            {
                long ino = (g * _formatter._ipg) + _formatter._inodesUsed[g] + 1;
                if (ino > _formatter.InodeCount)
                {
                    throw new Ext4NoSpaceException();
                }

                return (uint)ino;
            }
        }

        return Ext4Formatter.FirstInode;
    }
}
