using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Allocates and frees inodes: picks the group (Orlov-like spreading of directories), claims a bitmap bit,
/// initialises the new inode, and keeps the group and superblock counts in step.
/// </summary>
internal sealed class Ext4InodeAllocator(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    internal byte[] InodeBitmap(uint group)
    {
        if (_fs._inodeBitmaps[group] is { } cached)
        {
            return cached;
        }

        int bs = _fs.SuperBlock.BlockSize;
        byte[] bitmap = new byte[bs];
        bool fromDisk = !(_fs.HasUninitGroups && (_fs.GroupFlags(group) & Ext4FileSystem.BgInodeUninit) != 0);
        if (fromDisk)
        {
            long at = _fs.GroupInodeBitmap(group);
            if (at < _fs.SuperBlock.FirstDataBlock || at >= _fs.SuperBlock.BlocksCount)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {group}: inode bitmap at block {at} lies outside the file system.");
            }

            _fs.Device.ReadExactly(at * bs, bitmap);
        }

        // An INODE_UNINIT group is all free; only the padding past inodes_per_group is set.
        _fs.CheckInodeBitmap(group, bitmap, fromDisk);

        int ipg = (int)_fs.SuperBlock.InodesPerGroup;
        Ext4Bitmap.SetBits(bitmap, ipg, (8 * bs) - ipg, true);
        _fs._inodeBitmaps[group] = bitmap;
        return bitmap;
    }

    /// <summary>
    /// Allocates an inode near <paramref name="parentDirectory"/> (directories spread over groups with room),
    /// marks it in the bitmap and counters, and returns it initialised in memory (not yet written):
    /// zeroed, mode, <c>i_extra_isize</c>, generation, all times now, <c>EXTENTS_FL</c> with an empty root
    /// for regular files and directories when the extents feature is on, link count 0.
    /// </summary>
    /// <exception cref="IOException">No free inode is left.</exception>
    internal Ext4Inode AllocateInode(uint parentDirectory, UnixFileType type, int permissionBits)
    {
        _fs.EnsureWritable();
        uint ipg = _fs.SuperBlock.InodesPerGroup;
        uint groups = _fs.SuperBlock.GroupCount;
        uint parentGroup = parentDirectory >= 1 && parentDirectory <= _fs.SuperBlock.InodesCount ? (parentDirectory - 1) / ipg : 0;
        // Like the kernel's Orlov allocator, only top-level directories are spread over the groups.
        uint start = type == UnixFileType.Directory && parentDirectory == Ext4FileSystem.RootInode ? PickDirectoryGroup(parentGroup) : parentGroup;
        for (uint i = 0; i < groups; i++)
        {
            uint g = (start + i) % groups;
            if (_fs.GroupFreeInodes(g) == 0)
            {
                continue;
            }

            byte[] bitmap = InodeBitmap(g);
            int from = g == 0 ? (int)_fs.SuperBlock.FirstInode - 1 : 0;
            int bit = Ext4Bitmap.FindBit(bitmap, from, (int)ipg, false);
            if (bit < 0)
            {
                continue;
            }

            _fs.CheckInodeSlotFree((g * ipg) + (uint)bit + 1, g, bit);
            Ext4Bitmap.SetBits(bitmap, bit, 1, true);
            _fs._inodeBitmapDirty[g] = true;
            ushort flags = _fs.GroupFlags(g);
            if (_fs.HasUninitGroups)
            {
                if ((flags & Ext4FileSystem.BgInodeUninit) != 0)
                {
                    _fs.SetGroupFlags(g, (ushort)(flags & ~Ext4FileSystem.BgInodeUninit));
                }

                uint unused = _fs.GroupItableUnused(g);
                if (unused > ipg)
                {
                    FormatError.Throw("ext4 group descriptor", -1, $"group {g}: itable_unused {unused} exceeds the inodes per group.");
                }

                if ((uint)bit >= ipg - unused)
                {
                    _fs.SetDescriptorCount(g, 0x1C, 0x32, ipg - (uint)bit - 1);
                }
            }

            if (_fs.GroupFreeInodes(g) == 0)
            {
                FormatError.Throw("ext4 group descriptor", -1, $"group {g}: the free inode count disagrees with the bitmap.");
            }

            _fs.SetDescriptorCount(g, 0x0E, 0x2E, _fs.GroupFreeInodes(g) - 1);
            if (type == UnixFileType.Directory)
            {
                _fs.SetDescriptorCount(g, 0x10, 0x30, _fs.GroupUsedDirs(g) + 1);
            }

            uint number = (g * ipg) + (uint)bit + 1;
            var inode = new Ext4Inode(number, new byte[_fs.SuperBlock.InodeSize]);
            InitializeNewInode(inode, type, permissionBits);
            _fs._inodeCache[number] = inode;
            return inode;
        }

        throw new IOException("No free inodes left on the ext4 file system.");
    }

    /// <summary>Orlov-like: a group with at least average free inodes and blocks and the fewest directories, from the parent's on.</summary>
    private uint PickDirectoryGroup(uint parentGroup)
    {
        uint groups = _fs.SuperBlock.GroupCount;
        long totalInodes = 0;
        long totalBlocks = 0;
        for (uint g = 0; g < groups; g++)
        {
            totalInodes += _fs.GroupFreeInodes(g);
            totalBlocks += _fs.GroupFreeBlocks(g);
        }

        long avgInodes = totalInodes / groups;
        long avgBlocks = totalBlocks / groups;
        uint best = parentGroup;
        uint bestDirs = uint.MaxValue;
        for (uint i = 0; i < groups; i++)
        {
            uint g = (parentGroup + i) % groups;
            uint freeInodes = _fs.GroupFreeInodes(g);
            if (freeInodes == 0 || freeInodes < avgInodes || _fs.GroupFreeBlocks(g) < avgBlocks)
            {
                continue;
            }

            uint dirs = _fs.GroupUsedDirs(g);
            if (dirs < bestDirs)
            {
                best = g;
                bestDirs = dirs;
            }
        }

        return best;
    }

    private void InitializeNewInode(Ext4Inode inode, UnixFileType type, int permissionBits)
    {
        byte[] raw = inode.Raw;
        inode.Mode = (ushort)((int)type | (permissionBits & 0xFFF));
        if (raw.Length > 128)
        {
            int want = BinaryPrimitives.ReadUInt16LittleEndian(_fs._sbRaw.AsSpan(0x15E));
            int extra = want != 0 ? want : 32;
            extra = Math.Min(extra & ~3, raw.Length - 128);
            BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x80), (ushort)Math.Max(extra, Math.Min(32, raw.Length - 128)));
        }

        _fs._generationState = (_fs._generationState * 1664525) + 1013904223;
        inode.Generation = _fs._generationState;
        UnixTime now = _fs.Now();
        inode.SetAccessTime(now);
        inode.SetChangeTime(now);
        inode.SetModificationTime(now);
        if (inode.HasExtraField(0x90))
        {
            inode.SetTime(0x90, 0x94, now);
        }

        if (type is UnixFileType.RegularFile or UnixFileType.Directory && _fs.HasExtentsFeature)
        {
            inode.Flags |= Ext4Inode.ExtentsFlag;
            Ext4ExtentNode.InitializeExtentRoot(inode);
        }
    }

    /// <summary>Releases an inode whose blocks and xattrs are already freed: dtime, link count 0, bitmap and counters.</summary>
    internal void FreeInode(Ext4Inode inode)
    {
        _fs.EnsureWritable();
        uint number = inode.Number;
        if (number < _fs.SuperBlock.FirstInode || number > _fs.SuperBlock.InodesCount)
        {
            throw new InvalidOperationException($"Inode {number} is reserved and cannot be freed.");
        }

        bool isDir = inode.Type == UnixFileType.Directory;
        inode.LinksCount = 0;
        inode.DeletionTime = (uint)Math.Clamp(_fs.Now().Seconds, 1, uint.MaxValue);
        _fs.WriteInode(inode);
        uint g = (number - 1) / _fs.SuperBlock.InodesPerGroup;
        int bit = (int)((number - 1) % _fs.SuperBlock.InodesPerGroup);
        byte[] bitmap = InodeBitmap(g);
        if (!Ext4Bitmap.TestBit(bitmap, bit))
        {
            FormatError.Throw("ext4 inode bitmap", -1, $"inode {number} is already free (the file system is corrupt).");
        }

        Ext4Bitmap.SetBits(bitmap, bit, 1, false);
        _fs._inodeBitmapDirty[g] = true;
        _fs.SetDescriptorCount(g, 0x0E, 0x2E, _fs.GroupFreeInodes(g) + 1);
        if (isDir)
        {
            uint dirs = _fs.GroupUsedDirs(g);
            _fs.SetDescriptorCount(g, 0x10, 0x30, dirs == 0 ? 0 : dirs - 1);
        }

        _fs._inodeCache.Remove(number);
    }
}
