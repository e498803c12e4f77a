using System.Buffers.Binary;
using System.Numerics;

namespace DiskImage.FileSystems.Ext4;

// Writable state: group descriptors and bitmaps held in memory with dirty tracking, block and inode
// allocation honouring the uninit flags, inode writes, and the metadata flush.
public sealed partial class Ext4FileSystem
{
    internal const ushort BgInodeUninit = 0x1;
    internal const ushort BgBlockUninit = 0x2;
    private const int InodeCacheLimit = 65536;

    internal readonly Dictionary<uint, Ext4Inode> _inodeCache = [];
    internal readonly Dictionary<uint, int> _openCounts = [];
    internal readonly HashSet<uint> _pendingRelease = [];
    private readonly HashSet<Ext4Inode> _dirtyInodes = [];
    internal byte[] _sbRaw = [];
    private bool _writable;
    internal byte[]?[] _blockBitmaps = [];
    internal byte[]?[] _inodeBitmaps = [];
    internal bool[] _blockBitmapDirty = [];
    internal bool[] _inodeBitmapDirty = [];
    private bool[] _descriptorDirty = [];
    private bool _metadataDirty;
    private readonly HashSet<long> _dirtyDescriptorBlocks = [];
    internal uint _generationState;
    private long _bytesWritten;

    /// <summary>The time stamped on changes: the configured clock, or now.</summary>
    internal UnixTime Now() => _options.Clock?.Invoke() ?? UnixTime.Now;

    private void InitializeWritableState(byte[] sbRaw)
    {
        _sbRaw = sbRaw;
        _writable = true;
        uint groups = _sb.GroupCount;
        _blockBitmaps = new byte[]?[groups];
        _inodeBitmaps = new byte[]?[groups];
        _blockBitmapDirty = new bool[groups];
        _inodeBitmapDirty = new bool[groups];
        _descriptorDirty = new bool[groups];
        _generationState = Ext4Checksum.Crc32C(Ext4Checksum.Crc32C(~0u, _sb.UuidBytes), BinaryPrimitives.ReadUInt32LittleEndian(sbRaw.AsSpan(0x30)));
    }

    // ---- group descriptor fields ----------------------------------------------------------------

    private Span<byte> Descriptor(uint group) => _descriptors.AsSpan((int)(group * (uint)_sb.DescriptorSize), _sb.DescriptorSize);

    private bool HasHighDescriptorFields => _sb.DescriptorSize >= 64;

    private long DescriptorBlockField(uint group, int lo, int hi)
    {
        Span<byte> d = Descriptor(group);
        long v = BinaryPrimitives.ReadUInt32LittleEndian(d[lo..]);
        if (HasHighDescriptorFields)
        {
            v |= (long)BinaryPrimitives.ReadUInt32LittleEndian(d[hi..]) << 32;
        }

        return v;
    }

    private uint DescriptorCount(uint group, int lo, int hi)
    {
        Span<byte> d = Descriptor(group);
        uint v = BinaryPrimitives.ReadUInt16LittleEndian(d[lo..]);
        if (HasHighDescriptorFields)
        {
            v |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(d[hi..]) << 16;
        }

        return v;
    }

    internal void SetDescriptorCount(uint group, int lo, int hi, uint value)
    {
        Span<byte> d = Descriptor(group);
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)value);
        if (HasHighDescriptorFields)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(value >> 16));
        }

        _descriptorDirty[group] = true;
        _metadataDirty = true;
    }

    internal long GroupBlockBitmap(uint group) => DescriptorBlockField(group, 0x00, 0x20);

    internal long GroupInodeBitmap(uint group) => DescriptorBlockField(group, 0x04, 0x24);

    internal long GroupInodeTable(uint group) => DescriptorBlockField(group, 0x08, 0x28);

    internal uint GroupFreeBlocks(uint group) => DescriptorCount(group, 0x0C, 0x2C);

    internal uint GroupFreeInodes(uint group) => DescriptorCount(group, 0x0E, 0x2E);

    internal uint GroupUsedDirs(uint group) => DescriptorCount(group, 0x10, 0x30);

    internal uint GroupItableUnused(uint group) => DescriptorCount(group, 0x1C, 0x32);

    internal ushort GroupFlags(uint group) => BinaryPrimitives.ReadUInt16LittleEndian(Descriptor(group)[0x12..]);

    internal void SetGroupFlags(uint group, ushort flags)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Descriptor(group)[0x12..], flags);
        _descriptorDirty[group] = true;
        _metadataDirty = true;
    }

    internal bool HasUninitGroups => _sb.HasMetadataChecksum || _sb.HasGroupDescriptorChecksum;

    internal long GroupFirstBlock(uint group) => _sb.FirstDataBlock + ((long)group * _sb.BlocksPerGroup);

    internal int BlocksInGroup(uint group) => (int)Math.Min(_sb.BlocksPerGroup, _sb.BlocksCount - GroupFirstBlock(group));

    internal uint GroupOfBlock(long block) => (uint)((block - _sb.FirstDataBlock) / _sb.BlocksPerGroup);

    /// <summary>Blocks at the start of <paramref name="group"/> taken by a superblock copy, descriptor blocks and reserved GDT blocks.</summary>
    internal int GroupSuperblockOverhead(uint group)
    {
        int perBlock = _sb.BlockSize / _sb.DescriptorSize;
        long descBlocks = (_sb.GroupCount + perBlock - 1) / perBlock;
        bool hasSuper = _sb.GroupHasSuperblock(group);
        bool metaBg = (_sb.Incompatible & Ext4IncompatibleFeatures.MetaBlockGroups) != 0;
        int reservedGdt = BinaryPrimitives.ReadUInt16LittleEndian(_sbRaw.AsSpan(0xCE));
        long count = 0;
        if (!metaBg || group / perBlock < _sb.FirstMetaBlockGroup)
        {
            if (hasSuper)
            {
                count = 1 + (metaBg ? _sb.FirstMetaBlockGroup : descBlocks) + reservedGdt;
            }
        }
        else
        {
            count = hasSuper ? 1 : 0;
            uint inMeta = group % (uint)perBlock;
            if (inMeta == 0 || inMeta == 1 || inMeta == perBlock - 1)
            {
                count++;
            }
        }

        // With 1 KiB blocks group 0 starts at block 1, which is the superblock; with larger blocks block 0 holds it.
        return (int)Math.Min(count, int.MaxValue);
    }

    // ---- blocks ---------------------------------------------------------------------------------

    /// <summary>Reads file-system block <paramref name="block"/> into <paramref name="buffer"/> (one block long).</summary>
    internal void ReadFsBlock(long block, Span<byte> buffer)
    {
        if (block < 0 || block >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"block {block} lies outside the file system.");
        }

        _device.ReadExactly(block * _sb.BlockSize, buffer[.._sb.BlockSize]);
    }

    /// <summary>Writes <paramref name="data"/> (one block, or a run of whole blocks) at file-system block <paramref name="block"/>.</summary>
    internal void WriteFsBlock(long block, ReadOnlySpan<byte> data)
    {
        if (block <= 0 || block + ((data.Length - 1) / _sb.BlockSize) >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"refusing to write block {block}, outside the data area of the file system (a corrupt block pointer).");
        }

        CheckNotMetadata(block, ((data.Length - 1) / _sb.BlockSize) + 1, "write");

        // Metadata: a block image in the running transaction, written in place only by its commit.
        _device.Write(block * _sb.BlockSize, data);
        _bytesWritten += data.Length;
    }

    /// <summary>
    /// Writes file data (whole blocks) at <paramref name="block"/>: straight to the device, ahead of the commit that
    /// makes the blocks part of the file (ordered mode); a block freed and reused within the running transaction
    /// stays in the transaction instead.
    /// </summary>
    internal void WriteDataBlocks(long block, ReadOnlySpan<byte> data)
    {
        if (block <= 0 || block + ((data.Length - 1) / _sb.BlockSize) >= _sb.BlocksCount)
        {
            FormatError.Throw("ext4 block", -1, $"refusing to write block {block}, outside the data area of the file system (a corrupt block pointer).");
        }

        int count = ((data.Length - 1) / _sb.BlockSize) + 1;
        CheckNotMetadata(block, count, "write");
        if (_reusedFreedBlocks && AnyFreedInTransaction(block, count))
        {
            _device.Write(block * _sb.BlockSize, data);
        }
        else
        {
            _transaction!.WriteThrough(block * _sb.BlockSize, data);
        }

        _bytesWritten += data.Length;
    }

    // ---- inodes ---------------------------------------------------------------------------------

    private long InodeOffset(uint number)
    {
        uint group = (number - 1) / _sb.InodesPerGroup;
        uint index = (number - 1) % _sb.InodesPerGroup;
        return (GroupInodeTable(group) * _sb.BlockSize) + ((long)index * _sb.InodeSize);
    }

    /// <summary>Recomputes the inode checksum (metadata_csum) and writes the inode to its table slot.</summary>
    internal void WriteInode(Ext4Inode inode)
    {
        EnsureWritable();

        // Inodes of files open for writing are written when the last stream closes or on Flush.
        if (_openCounts.ContainsKey(inode.Number))
        {
            _dirtyInodes.Add(inode);
            return;
        }

        WriteInodeNow(inode);
    }

    private void WriteInodeNow(Ext4Inode inode)
    {
        byte[] raw = inode.Raw;
        if (_sb.HasMetadataChecksum)
        {
            bool hasHi = raw.Length > 128 && inode.ExtraSize >= 4;
            uint c = Ext4Checksum.Inode(InodeSeed(inode.Number, inode.Generation), raw, hasHi);
            BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x7C), (ushort)c);
            if (hasHi)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(0x82), (ushort)(c >> 16));
            }
        }

        _device.Write(InodeOffset(inode.Number), raw);
        _bytesWritten += raw.Length;
    }

    internal bool HasExtentsFeature => (_sb.Incompatible & Ext4IncompatibleFeatures.Extents) != 0;

    // ---- flush ----------------------------------------------------------------------------------

    /// <summary>Puts dirty inodes, bitmaps (with their checksums), descriptors and the superblock counters into the running transaction.</summary>
    private void FlushMetadata()
    {
        if (!_writable)
        {
            return;
        }

        int unlinked = 0;
        foreach (Ext4Inode inode in _dirtyInodes)
        {
            // An unlinked inode still open keeps its on-disk state until its last stream closes and releases it.
            if (inode.LinksCount == 0 && _pendingRelease.Contains(inode.Number))
            {
                unlinked++;
                continue;
            }

            WriteInodeNow(inode);
        }

        if (unlinked == 0)
        {
            _dirtyInodes.Clear();
        }
        else
        {
            _dirtyInodes.RemoveWhere(i => !(i.LinksCount == 0 && _pendingRelease.Contains(i.Number)));
        }

        if (!_metadataDirty)
        {
            return;
        }

        int bs = _sb.BlockSize;
        int descSize = _sb.DescriptorSize;
        int perBlock = bs / descSize;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            if (_blockBitmapDirty[g] && _blockBitmaps[g] is { } bb)
            {
                long at = GroupBlockBitmap(g);
                _device.Write(at * bs, bb);
                if (_sb.HasMetadataChecksum)
                {
                    uint c = Ext4Checksum.Crc32C(_sb.ChecksumSeed, bb.AsSpan(0, (int)(_sb.BlocksPerGroup / 8)));
                    SetBitmapChecksum(g, 0x18, 0x38, c);
                }

                _blockBitmapDirty[g] = false;
                _descriptorDirty[g] = true;
            }

            if (_inodeBitmapDirty[g] && _inodeBitmaps[g] is { } ib)
            {
                long at = GroupInodeBitmap(g);
                _device.Write(at * bs, ib);
                if (_sb.HasMetadataChecksum)
                {
                    uint c = Ext4Checksum.Crc32C(_sb.ChecksumSeed, ib.AsSpan(0, (int)(_sb.InodesPerGroup / 8)));
                    SetBitmapChecksum(g, 0x1A, 0x3A, c);
                }

                _inodeBitmapDirty[g] = false;
                _descriptorDirty[g] = true;
            }

            if (_descriptorDirty[g])
            {
                Span<byte> d = Descriptor(g);
                if (HasUninitGroups)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(d[0x1E..], DescriptorChecksum(_sb, g, d));
                }

                _descriptorDirty[g] = false;
                _dirtyDescriptorBlocks.Add(g / perBlock);
            }
        }

        foreach (long i in _dirtyDescriptorBlocks)
        {
            _device.Write(DescriptorBlockNumber(_sb, i) * bs, _descriptors.AsSpan((int)(i * bs), bs));
        }

        _dirtyDescriptorBlocks.Clear();
        long freeBlocks = 0;
        long freeInodes = 0;
        for (uint g = 0; g < _sb.GroupCount; g++)
        {
            freeBlocks += GroupFreeBlocks(g);
            freeInodes += GroupFreeInodes(g);
        }

        Span<byte> s = _sbRaw;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x0C..], (uint)freeBlocks);
        if (_sb.Is64Bit)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x158..], (uint)(freeBlocks >> 32));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(s[0x10..], (uint)freeInodes);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x30..], (uint)Math.Clamp(Now().Seconds, 0, uint.MaxValue));
        ulong kib = BinaryPrimitives.ReadUInt64LittleEndian(s[0x178..]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x178..], kib + (ulong)(_bytesWritten >> 10));
        _bytesWritten &= 1023;
        WriteSuperblockToTransaction();
        _metadataDirty = false;
    }

    private void SetValidState(byte[] sb, bool valid)
    {
        Span<byte> s = sb;
        ushort state = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3A..]);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x3A..], (ushort)(valid ? state | 0x1 : state & ~0x1));
        if (_sb.HasMetadataChecksum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s[0x3FC..], Ext4Checksum.Crc32C(~0u, s[..0x3FC]));
        }
    }

    private void SetBitmapChecksum(uint group, int lo, int hi, uint c)
    {
        Span<byte> d = Descriptor(group);
        BinaryPrimitives.WriteUInt16LittleEndian(d[lo..], (ushort)c);
        if (HasHighDescriptorFields)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(d[hi..], (ushort)(c >> 16));
        }
    }

    /// <summary>Sets a read-only-compatible feature in the superblock (e.g. large_file once a file reaches 2 GiB).</summary>
    internal void SetReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures feature)
    {
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0x64));
        if ((v & (uint)feature) == 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_sbRaw.AsSpan(0x64), v | (uint)feature);
            _metadataDirty = true;
        }
    }

    internal bool HasReadOnlyCompatibleFeature(Ext4ReadOnlyCompatibleFeatures feature) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0x64)) & (uint)feature) != 0;

    internal void EnsureWritable()
    {
        if (!_writable)
        {
            PathResolver.ThrowReadOnly();
        }
    }
}
