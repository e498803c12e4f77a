using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Computes the geometry of a new file system from its size and options, as mke2fs does: block count,
/// blocks and inodes per group, group count, inode-table and descriptor blocks, reserved GDT blocks.
/// </summary>
internal sealed class Ext4FormatGeometry(Ext4Formatter owner)
{
    private readonly Ext4Formatter _formatter = owner;

    internal void ComputeGeometry()
    {
        long blocks = _formatter._size / _formatter._bs;
        if (!_formatter._is64 && blocks > uint.MaxValue)
        {
            blocks = uint.MaxValue;
        }

        if (blocks < 64 + _formatter._firstData)
        {
            throw new ArgumentException($"The device is too small for an ext4 file system ({_formatter._size} bytes).");
        }

        int inodesPerBlock = _formatter._bs / _formatter._inodeSize;

        // Like mke2fs: with blocks smaller than a 4 KiB page, the count is rounded down to whole pages.
        if (_formatter._bs < 4096)
        {
            blocks &= ~((4096L / _formatter._bs) - 1);
        }

        // Like mke2fs: the inode count comes from the size asked for, once; dropping a too-small last
        // group below does not lower it (those inodes spread over the other groups).
        long requestedBlocks = blocks;
        long inodes = Math.Max(blocks * _formatter._bs / _formatter._bytesPerInode, 12);
        while (true)
        {
            long groups = (blocks - _formatter._firstData + _formatter._bpg - 1) / _formatter._bpg;
            long ipg = (inodes + groups - 1) / groups;
            if (ipg > _formatter._bs * 8L)
            {
                // More inodes than an inode bitmap holds: mke2fs shrinks the groups by 8 blocks and retries.
                if (_formatter._bpg < 256)
                {
                    throw new ArgumentException("Too many inodes for this size and block size.");
                }

                _formatter._bpg -= 8;
                blocks = requestedBlocks;
                continue;
            }

            ipg = Math.Min(ipg, 65536 - inodesPerBlock);

            // Fill whole inode-table blocks, then keep a multiple of 8 (the bitmap code needs it).
            ipg = (ipg * _formatter._inodeSize + _formatter._bs - 1) / _formatter._bs * _formatter._bs / _formatter._inodeSize;
            ipg = Math.Max(ipg, 8) & ~7L;
            if (ipg * groups > uint.MaxValue)
            {
                ipg = (uint.MaxValue / groups) & ~7L;
            }

            long itb = ((ipg * _formatter._inodeSize) + _formatter._bs - 1) / _formatter._bs;
            long gdtBlocks = ((groups * _formatter._descSize) + _formatter._bs - 1) / _formatter._bs;
            long rsv = ReservedGdtFor(blocks, gdtBlocks);
            if (1 + gdtBlocks + rsv + 2 + itb + 64 > _formatter._bpg)
            {
                rsv = Math.Max(0, _formatter._bpg - (1 + gdtBlocks + 2 + itb + 64));
            }

            long lastSize = blocks - _formatter._firstData - ((groups - 1) * _formatter._bpg);
            _formatter._groups = (uint)groups;
            long overhead = (_formatter.HasBackup(_formatter._groups - 1) ? 1 + gdtBlocks + rsv : 0) + 2 + itb;
            if (groups > 1 && lastSize < overhead + 50)
            {
                blocks = _formatter._firstData + ((groups - 1) * _formatter._bpg);
                continue;
            }

            if (1 + gdtBlocks + 2 + itb + 64 > _formatter._bpg)
            {
                throw new NotSupportedException($"{groups} block groups need {gdtBlocks} descriptor blocks, more than a group holds; such sizes need meta_bg, which Format does not write. Use a larger block size.");
            }

            _formatter._blocks = blocks;
            _formatter._ipg = (uint)ipg;
            _formatter._itb = itb;
            _formatter._gdtBlocks = gdtBlocks;
            _formatter._rsvGdt = rsv;

            // Like mke2fs: the resize inode stays (possibly with nothing reserved) below 2^32 blocks.
            _formatter._resizeInode = _formatter._o.ResizeInode && blocks <= uint.MaxValue;
            return;
        }
    }

    /// <summary>
    /// The descriptor blocks mke2fs reserves for growth: enough for 1024 times the blocks (at most 2^32 - 1 blocks),
    /// less those in use, at most one indirect block's worth; 0 without the resize inode.
    /// </summary>
    private long ReservedGdtFor(long blocks, long gdtBlocks)
    {
        if (!_formatter._o.ResizeInode || blocks > uint.MaxValue)
        {
            return 0;
        }

        long maxBlocks = Math.Min(uint.MaxValue, blocks * 1024);
        long groups = (maxBlocks - _formatter._firstData + _formatter._bpg - 1) / _formatter._bpg;
        long perBlock = _formatter._bs / _formatter._descSize;
        long rsv = ((groups + perBlock - 1) / perBlock) - gdtBlocks;
        return Math.Clamp(rsv, 0, _formatter._bs / 4);
    }

    internal static bool IsPowerOf(uint value, uint b)
    {
        ulong p = b;
        while (p < value)
        {
            p *= b;
        }

        return p == value;
    }

    internal static long DefaultJournalBlocks(long blocks) => blocks switch
    {
        < 2048 => 0,
        < 32768 => 1024,
        < 256 * 1024 => 4096,
        < 512 * 1024 => 8192,
        < 4096 * 1024 => 16384,
        < 8192 * 1024 => 32768,
        < 16384 * 1024 => 65536,
        < 32768 * 1024 => 131072,
        _ => 262144,
    };
}
