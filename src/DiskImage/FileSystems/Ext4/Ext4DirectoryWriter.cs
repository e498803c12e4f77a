using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Adds and removes directory entries: picks the linear, htree or inline layout of the directory, grows a
/// linear directory block by block (turning it into an htree when its only block fills), and writes the
/// blocks and the directory inode it changes. Link counts and timestamps are the caller's.
/// </summary>
/// <remarks>
/// A linear directory grows by one block at a time; when its only block is full it is turned into an
/// htree (a dx root in block 0 and two leaves), as the kernel does. In an htree a name goes into the leaf
/// its hash selects; a full leaf is compacted or split at the hash median (equal hashes on both sides set
/// the continuation bit of the new index entry), a full index node is split, and a full root moves its
/// entries into a new index node (one more level; two index levels at most, three with largedir). Every
/// insertion reads one block per index level plus the leaf. Removal merges the record into its
/// predecessor (or clears the inode of a block's first record); directories never shrink.
/// </remarks>
internal sealed class Ext4DirectoryWriter(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    private Ext4InlineDirectory? _inlineDirectories;

    /// <summary>
    /// Adds the entry <paramref name="name"/> → <paramref name="inode"/> to <paramref name="directory"/>, growing
    /// it (and its index) as needed, and writes every block and the directory inode it changes. Link counts and
    /// timestamps are the caller's.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty, "." or "..", or holds '/', NUL or a lone surrogate that <see cref="UnixPathEncoding"/> cannot encode.</exception>
    /// <exception cref="PathTooLongException">The name is longer than 255 bytes in UTF-8.</exception>
    /// <exception cref="IOException">The name exists already, or the directory index is full.</exception>
    /// <exception cref="NotSupportedException">The directory is encrypted or casefolded.</exception>
    internal void AddDirectoryEntry(Ext4Inode directory, string name, uint inode, UnixFileType type)
    {
        ArgumentNullException.ThrowIfNull(directory);
        byte[] nameBytes = Ext4DirectoryLeaf.EncodeEntryName(name);
        if (inode == 0 || inode > _fs.SuperBlock.InodesCount)
        {
            throw new ArgumentOutOfRangeException(nameof(inode), inode, "The inode number is out of range.");
        }

        string key = UnixPathEncoding.GetString(nameBytes);
        Dictionary<string, uint> listing = _fs.GetDirectory(new Ext4Node(directory));
        if (listing.ContainsKey(key))
        {
            throw new IOException($"'{key}' exists already in directory inode {directory.Number}.");
        }

        byte typeCode = _fs.SuperBlock.HasFileType ? Ext4DirectoryLeaf.FileTypeCode(type) : (byte)0;
        try
        {
            // An inline directory that has no room left becomes a one-block directory, which takes the entry.
            bool placedInline = directory.HasInlineData && InlineDirectories.TryAdd(directory, nameBytes, inode, typeCode);
            if (!placedInline)
            {
                if (IsIndexedDirectory(directory))
                {
                    _fs.Htree.AddIndexed(directory, nameBytes, inode, typeCode);
                }
                else
                {
                    AddLinear(directory, nameBytes, inode, typeCode);
                }
            }
        }
        catch
        {
            _fs.InvalidateDirectory(directory.Number);
            throw;
        }

        listing[key] = inode;
    }

    /// <summary>
    /// Removes the entry <paramref name="name"/> from <paramref name="directory"/>; false when there is none.
    /// The inode the entry pointed to is not touched.
    /// </summary>
    /// <exception cref="ArgumentException">The name is "." or "..", or is not a valid entry name.</exception>
    /// <exception cref="NotSupportedException">The directory is encrypted or casefolded.</exception>
    internal bool RemoveDirectoryEntry(Ext4Inode directory, string name)
    {
        ArgumentNullException.ThrowIfNull(directory);
        byte[] nameBytes;
        try
        {
            nameBytes = Ext4DirectoryLeaf.EncodeEntryName(name);
        }
        catch (PathTooLongException)
        {
            return false;
        }

        Ext4FileSystem.CheckDirectoryReadable(directory, null);
        bool removed;
        try
        {
            removed = directory.HasInlineData ? InlineDirectories.Remove(directory, nameBytes) : IsIndexedDirectory(directory) ? _fs.Htree.RemoveIndexed(directory, nameBytes) : RemoveLinear(directory, nameBytes);
            if (!removed && !directory.HasInlineData && name.Contains('\uFFFD', StringComparison.Ordinal))
            {
                // The listing shows names that are not valid UTF-8 decoded lossily; find such a name by what it decodes to.
                removed = RemoveByDecodedName(directory, name);
            }
        }
        catch
        {
            _fs.InvalidateDirectory(directory.Number);
            throw;
        }

        if (removed && _fs._directoryCache.TryGetValue(directory.Number, out Dictionary<string, uint>? cached))
        {
            cached.Remove(name);
        }

        return removed;
    }

    /// <summary>
    /// Gives the new (empty, block-mapped or extent-mapped) directory <paramref name="newDirectory"/> its first
    /// block holding "." and "..", sets its size to one block and writes the inode. Link counts are the caller's.
    /// On an inline_data file system the directory is created inline instead, as the kernel does, when its
    /// inode has room for the <c>system.data</c> attribute.
    /// </summary>
    internal void InitializeDirectory(Ext4Inode newDirectory, uint parentInode)
    {
        ArgumentNullException.ThrowIfNull(newDirectory);
        if (InlineDirectories.TryInitialize(newDirectory, parentInode))
        {
            _fs.InvalidateDirectory(newDirectory.Number);
            return;
        }

        int bs = _fs.SuperBlock.BlockSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            block.Clear();
            int limit = _fs.DirectoryLeaves.LeafLimit();
            _fs.DirectoryLeaves.WriteEntry(block, 0, 12, newDirectory.Number, "."u8, _fs.SuperBlock.HasFileType ? (byte)Ext4DirectoryLeaf.DirectoryTypeCode : (byte)0);
            _fs.DirectoryLeaves.WriteEntry(block, 12, limit - 12, parentInode, ".."u8, _fs.SuperBlock.HasFileType ? (byte)Ext4DirectoryLeaf.DirectoryTypeCode : (byte)0);
            _fs.DirectoryLeaves.SealLeaf(newDirectory, block);
            long physical = _fs.MapOrAllocateBlock(newDirectory, 0);
            _fs.WriteFsBlock(physical, block);
            newDirectory.Size = bs;
            _fs.WriteInode(newDirectory);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _fs.InvalidateDirectory(newDirectory.Number);
    }

    /// <summary>Points ".." of <paramref name="directory"/> at <paramref name="newParent"/> (after a move to another directory).</summary>
    internal void SetParentEntry(Ext4Inode directory, uint newParent)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (directory.HasInlineData)
        {
            // An inline directory starts with the parent's inode number in i_block.
            BinaryPrimitives.WriteUInt32LittleEndian(directory.BlockAreaWritable, newParent);
            _fs.WriteInode(directory);
            return;
        }

        int bs = _fs.SuperBlock.BlockSize;
        CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            long physical = DirectoryBlock(directory, 0);
            _fs.ReadFsBlock(physical, block);
            if (_fs.DirectoryLeaves.GetRecordLength(block, 0) != 12 || block[6] != 1 || block[8] != '.' ||
                block[12 + 6] != 2 || block[12 + 8] != '.' || block[12 + 9] != '.')
            {
                FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: block 0 does not start with '.' and '..'.");
            }

            bool indexed = IsIndexedDirectory(directory);
            if (indexed)
            {
                _fs.Htree.ValidateDxNode(directory, block, Ext4HtreeWriter.DxRootCountOffset, CheckDirectorySize(directory), 0);
            }
            else
            {
                _fs.DirectoryLeaves.LeafLimit(directory, block, 0);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(block[12..], newParent);
            if (indexed)
            {
                _fs.Htree.SealDxNode(directory, block, Ext4HtreeWriter.DxRootCountOffset);
            }
            else
            {
                _fs.DirectoryLeaves.SealLeaf(directory, block);
            }

            _fs.WriteFsBlock(physical, block);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Ext4InlineDirectory InlineDirectories => _inlineDirectories ??= new Ext4InlineDirectory(_fs);

    private bool IsIndexedDirectory(Ext4Inode directory)
    {
        if ((directory.Flags & Ext4Inode.IndexFlag) == 0)
        {
            return false;
        }

        if ((_fs.SuperBlock.Compatible & Ext4CompatibleFeatures.DirIndex) == 0)
        {
            FormatError.Unsupported($"Directory inode {directory.Number} is hash-indexed but the file system lacks dir_index; changing it is not supported.");
        }

        return true;
    }

    internal long CheckDirectorySize(Ext4Inode directory)
    {
        int bs = _fs.SuperBlock.BlockSize;
        if (directory.Size <= 0 || directory.Size % bs != 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: size {directory.Size} is not a positive multiple of the block size.");
        }

        return directory.Size / bs;
    }

    internal long DirectoryBlock(Ext4Inode directory, long logical)
    {
        long physical = _fs.MapLogicalBlock(directory, logical);
        if (physical < 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: block {logical} is a hole.");
        }

        return physical;
    }

    /// <summary>
    /// Reads leaf block <paramref name="logical"/> (at <paramref name="physical"/>) into <paramref name="block"/> and
    /// places the entry there if it has room, packing records scattered by removals first ("." and ".." stay
    /// first); then seals and writes the block. <paramref name="limit"/> is the leaf's usable length.
    /// </summary>
    internal bool TryPlaceInLeaf(Ext4Inode directory, Span<byte> block, long logical, long physical, ReadOnlySpan<byte> name, uint inode, byte typeCode, out int limit)
    {
        int needed = Ext4DirectoryLeaf.EntrySize(name.Length);
        _fs.ReadFsBlock(physical, block);
        limit = _fs.DirectoryLeaves.LeafLimit(directory, block, logical);
        int slot = _fs.DirectoryLeaves.FindSlot(block, limit, needed);
        if (slot < 0 && _fs.DirectoryLeaves.PackedSize(block, limit) + needed <= limit)
        {
            _fs.DirectoryLeaves.CompactLeaf(block, 0, limit);
            slot = _fs.DirectoryLeaves.FindSlot(block, limit, needed);
        }

        if (slot < 0)
        {
            return false;
        }

        _fs.DirectoryLeaves.PlaceEntry(block, slot, name, inode, typeCode);
        _fs.DirectoryLeaves.SealLeaf(directory, block);
        _fs.WriteFsBlock(physical, block);
        return true;
    }

    private void AddLinear(Ext4Inode directory, byte[] name, uint inode, byte typeCode)
    {
        int bs = _fs.SuperBlock.BlockSize;
        long blocks = CheckDirectorySize(directory);
        int needed = Ext4DirectoryLeaf.EntrySize(name.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            long lastPhysical = -1;
            for (long b = 0; b < blocks; b++)
            {
                long physical = DirectoryBlock(directory, b);
                if (TryPlaceInLeaf(directory, block, b, physical, name, inode, typeCode, out _))
                {
                    return;
                }

                lastPhysical = physical;
            }

            if (blocks == 1 && (_fs.SuperBlock.Compatible & Ext4CompatibleFeatures.DirIndex) != 0)
            {
                // The kernel's rule: a one-block directory that overflows becomes an htree.
                _fs.Htree.MakeIndexed(directory, block, lastPhysical, name, inode, typeCode);
                return;
            }

            long newPhysical = AllocateDirectoryBlocks(directory, blocks, 1)[0];
            block.Clear();
            _fs.DirectoryLeaves.WriteEntry(block, 0, _fs.DirectoryLeaves.LeafLimit(), inode, name, typeCode);
            _fs.DirectoryLeaves.SealLeaf(directory, block);
            _fs.WriteFsBlock(newPhysical, block);
            directory.Size = (blocks + 1) * bs;
            _fs.WriteInode(directory);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Maps <paramref name="count"/> new blocks at the end of the directory (logical
    /// <paramref name="firstLogical"/> on); on failure the blocks mapped so far are released again.
    /// </summary>
    internal long[] AllocateDirectoryBlocks(Ext4Inode directory, long firstLogical, int count)
    {
        long[] physical = new long[count];
        int done = 0;
        try
        {
            for (; done < count; done++)
            {
                physical[done] = _fs.MapOrAllocateBlock(directory, firstLogical + done);
            }
        }
        catch when (done > 0)
        {
            _fs.TruncateBlocks(directory, firstLogical * _fs.SuperBlock.BlockSize);
            throw;
        }

        return physical;
    }

    /// <summary>
    /// Removes the first live entry whose name, decoded lossily as UTF-8, equals <paramref name="name"/>: a
    /// scan of every leaf block (index blocks of an htree skipped).
    /// </summary>
    private bool RemoveByDecodedName(Ext4Inode directory, string name)
    {
        int bs = _fs.SuperBlock.BlockSize;
        long blocks = CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            HashSet<long>? indexBlocks = null;
            if (IsIndexedDirectory(directory))
            {
                var map = new Ext4FileStream(_fs.Device, bs, directory.Size, _fs.MapFile(directory), _fs._sync);
                indexBlocks = _fs.VerifyHtree(directory, map, blocks, block);
            }

            for (long b = 0; b < blocks; b++)
            {
                if (indexBlocks is not null && indexBlocks.Contains(b))
                {
                    continue;
                }

                long physical = DirectoryBlock(directory, b);
                _fs.ReadFsBlock(physical, block);
                int limit = _fs.DirectoryLeaves.LeafLimit(directory, block, b);
                int previous = -1;
                int offset = 0;
                while (offset < limit)
                {
                    int recordLength = _fs.DirectoryLeaves.GetRecordLength(block, offset);
                    if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0 &&
                        UnixPathEncoding.GetString(block.Slice(offset + 8, block[offset + 6])) == name)
                    {
                        _fs.DirectoryLeaves.RemoveFromLeaf(block, offset, previous);
                        _fs.DirectoryLeaves.SealLeaf(directory, block);
                        _fs.WriteFsBlock(physical, block);
                        return true;
                    }

                    previous = offset;
                    offset += recordLength;
                }
            }

            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool RemoveLinear(Ext4Inode directory, byte[] name)
    {
        int bs = _fs.SuperBlock.BlockSize;
        long blocks = CheckDirectorySize(directory);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> block = buffer.AsSpan(0, bs);
            for (long b = 0; b < blocks; b++)
            {
                long physical = DirectoryBlock(directory, b);
                _fs.ReadFsBlock(physical, block);
                int limit = _fs.DirectoryLeaves.LeafLimit(directory, block, b);
                int offset = _fs.DirectoryLeaves.FindInLeaf(block, limit, name, out int previous);
                if (offset >= 0)
                {
                    _fs.DirectoryLeaves.RemoveFromLeaf(block, offset, previous);
                    _fs.DirectoryLeaves.SealLeaf(directory, block);
                    _fs.WriteFsBlock(physical, block);
                    return true;
                }
            }

            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
