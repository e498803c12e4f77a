using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Writes the content of the special inodes a new file system starts with: the resize inode's reserved
/// GDT blocks, the orphan file's blocks and the empty journal's superblock.
/// </summary>
internal sealed class Ext4FormatSpecialBlocks(Ext4Formatter owner)
{
    private readonly Ext4Formatter _formatter = owner;

    /// <summary>
    /// Inode 7 as e2fsck expects it: a regular file (0600, one link, no extents) whose double-indirect block lists
    /// the reserved descriptor blocks of group 0, each serving as an indirect block that lists its copies in the
    /// backup groups; i_size spans the whole double-indirect range.
    /// </summary>
    internal void FillResizeInode(Span<byte> raw)
    {
        long perBlock = _formatter._bs / 4;
        long size = (12 + perBlock + (perBlock * perBlock)) * _formatter._bs;
        UnixTime now = new(_formatter._seconds, 0);
        _formatter.Inodes.InitInode(raw, 0x8180, 0, 0, 1, size, now, now, now, now);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[(0x28 + (13 * 4))..], (uint)_formatter._resizeDind);
        _formatter.Inodes.SetBlockCount(raw, 1 + (_formatter._rsvGdt * (1 + BackupGroupCount())));
    }

    private int BackupGroupCount()
    {
        int n = 0;
        for (uint g = 1; g < _formatter._groups; g++)
        {
            if (_formatter.HasBackup(g))
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Writes the resize inode's double-indirect block and group 0's reserved descriptor blocks; zeroes the backups' copies.</summary>
    internal void WriteResizeBlocks()
    {
        if (!_formatter._resizeInode)
        {
            return;
        }

        long perBlock = _formatter._bs / 4;
        long first = _formatter._firstData + 1 + _formatter._gdtBlocks;
        byte[] dind = new byte[_formatter._bs];
        byte[] reserved = new byte[_formatter._rsvGdt * _formatter._bs];
        for (long i = 0; i < _formatter._rsvGdt; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(dind.AsSpan((int)(((_formatter._gdtBlocks + i) % perBlock) * 4)), (uint)(first + i));
            Span<byte> ind = reserved.AsSpan((int)(i * _formatter._bs), _formatter._bs);
            int j = 0;
            for (uint g = 1; g < _formatter._groups; g++)
            {
                if (_formatter.HasBackup(g))
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(ind[(j * 4)..], (uint)(_formatter.GroupStart(g) + 1 + _formatter._gdtBlocks + i));
                    j++;
                }
            }
        }

        _formatter._device!.Write(_formatter._resizeDind * _formatter._bs, dind);
        _formatter._device.Write(first * _formatter._bs, reserved);
        for (uint g = 1; g < _formatter._groups; g++)
        {
            if (_formatter.HasBackup(g))
            {
                _formatter._device.WriteZeroes((_formatter.GroupStart(g) + 1 + _formatter._gdtBlocks) * _formatter._bs, _formatter._rsvGdt * _formatter._bs);
            }
        }
    }

    /// <summary>Writes the orphan file's blocks: no entries, a tail with the magic and the block's crc32c.</summary>
    internal void WriteOrphanBlocks()
    {
        if (_formatter._orphanIno == 0)
        {
            return;
        }

        uint seed = _formatter.Inodes.InodeSeed(_formatter._orphanIno);
        byte[] block = new byte[_formatter._bs];
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(_formatter._bs - 8), Ext4Formatter.OrphanBlockMagic);
        foreach ((long start, long count) in _formatter._orphanExtents)
        {
            byte[] run = new byte[count * _formatter._bs];
            for (long b = 0; b < count; b++)
            {
                long phys = start + b;
                uint c = Ext4Checksum.Crc32C(Ext4Checksum.Crc32C(seed, (uint)phys), (uint)(phys >> 32));
                c = Ext4Checksum.Crc32C(c, block.AsSpan(0, _formatter._bs - 8));
                BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(_formatter._bs - 4), c);
                block.CopyTo(run, b * _formatter._bs);
            }

            _formatter._device!.Write(start * _formatter._bs, run);
        }
    }

    internal void WriteJournal()
    {
        List<(long Start, long Count)> extents = _formatter._journalExtents;
        byte[] uuidBytes = _formatter._uuidBytes;
        long journalBlocks = _formatter._journalBlocks;
        foreach ((long start, long count) in extents)
        {
            _formatter._device!.WriteZeroes(start * _formatter._bs, count * _formatter._bs);
        }

        byte[] j = new byte[_formatter._bs];
        Span<byte> s = j;
        BinaryPrimitives.WriteUInt32BigEndian(s, 0xC03B3998);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x04..], 4); // superblock v2
        BinaryPrimitives.WriteUInt32BigEndian(s[0x0C..], (uint)_formatter._bs);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x10..], (uint)journalBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x14..], 1); // first log block
        BinaryPrimitives.WriteUInt32BigEndian(s[0x18..], 1); // sequence
        uuidBytes.CopyTo(s[0x30..]);
        BinaryPrimitives.WriteUInt32BigEndian(s[0x40..], 1); // nr_users
        _formatter._device!.Write(extents[0].Start * _formatter._bs, j);
    }
}
