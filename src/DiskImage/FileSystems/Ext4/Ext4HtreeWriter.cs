using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace DiskImage.FileSystems.Ext4;

/// <summary>
/// Inserts into and removes from htree (dx) directories: hash lookup through the index, leaf splits at
/// the hash median, index-node splits and growth in depth, with the metadata_csum dx tails kept exact.
/// </summary>
internal sealed class Ext4HtreeWriter(Ext4FileSystem fs)
{
    private readonly Ext4FileSystem _fs = fs;

    internal const int DxRootCountOffset = 0x20;
    private const int DxNodeCountOffset = 0x08;
    private uint[]? _dxHashSeed;
    private int _dxDefaultHashVersion;
    private bool _dxUnsignedHash;

    internal void SealDxNode(Ext4Inode directory, Span<byte> block, int countOffset)
    {
        if (!_fs.SuperBlock.HasMetadataChecksum)
        {
            return;
        }

        int limit = BinaryPrimitives.ReadUInt16LittleEndian(block[countOffset..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(block[(countOffset + 2)..]);
        int tail = countOffset + (limit * 8);
        BinaryPrimitives.WriteUInt32LittleEndian(block[tail..], 0);
        uint c = Ext4Checksum.Crc32C(_fs.InodeSeed(directory.Number, directory.Generation), block[..(countOffset + (count * 8))]);
        c = Ext4Checksum.Crc32C(c, block.Slice(tail, 4));
        c = Ext4Checksum.Crc32CZeros(c, 4);
        BinaryPrimitives.WriteUInt32LittleEndian(block[(tail + 4)..], c);
    }

    private int DxLimit(int countOffset) => (_fs.SuperBlock.BlockSize - countOffset - (_fs.SuperBlock.HasMetadataChecksum ? 8 : 0)) / 8;

    private void EnsureHashSettings()
    {
        if (_dxHashSeed is not null)
        {
            return;
        }

        // s_hash_seed (0xEC), s_def_hash_version (0xFC) and s_flags (0x160) never change while mounted.
        Span<byte> sb = stackalloc byte[Ext4SuperBlock.Size];
        _fs.Device.ReadExactly(Ext4SuperBlock.Offset, sb);
        uint[] seed = new uint[4];
        for (int i = 0; i < 4; i++)
        {
            seed[i] = BinaryPrimitives.ReadUInt32LittleEndian(sb[(0xEC + (i * 4))..]);
        }

        _dxDefaultHashVersion = sb[0xFC] <= Ext4DirectoryHash.Tea ? sb[0xFC] : Ext4DirectoryHash.HalfMd4;
        _dxUnsignedHash = (BinaryPrimitives.ReadUInt32LittleEndian(sb[0x160..]) & 0x2) != 0;
        _dxHashSeed = seed;
    }

    /// <summary>The hash actually used for a root's <c>hash_version</c>: the signed variants turn unsigned when <c>s_flags</c> says so.</summary>
    private int EffectiveHashVersion(Ext4Inode directory, int rootVersion)
    {
        int version = rootVersion <= Ext4DirectoryHash.Tea && _dxUnsignedHash ? rootVersion + 3 : rootVersion;
        if (version == 6)
        {
            FormatError.Unsupported($"Directory inode {directory.Number} uses the SipHash name hash (casefold), which is not supported for writing.");
        }

        if (version > Ext4DirectoryHash.TeaUnsigned)
        {
            FormatError.Throw("ext4 htree", -1, $"directory inode {directory.Number}: unknown hash version {rootVersion}.");
        }

        return version;
    }

    private uint HashName(ReadOnlySpan<byte> name, int version) => Ext4DirectoryHash.Compute(name, version, _dxHashSeed, out _);

    private int MaxIndexLevels => (_fs.SuperBlock.Incompatible & Ext4IncompatibleFeatures.LargeDirectories) != 0 ? 3 : 2;

    /// <summary>Starts an empty index node: a free record spanning the block, then limit and count.</summary>
    private void InitializeDxNode(Span<byte> node)
    {
        node.Clear();
        _fs.DirectoryLeaves.SetRecordLength(node, 0, node.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(node[DxNodeCountOffset..], (ushort)DxLimit(DxNodeCountOffset));
    }

    /// <summary>Checks an index node's limit, count, children and hash order (and its checksum when verifying).</summary>
    internal void ValidateDxNode(Ext4Inode directory, ReadOnlySpan<byte> node, int countOffset, long blockCount, long logical)
    {
        const string S = "ext4 htree";
        int limit = Ext4DxNode.DxLimitOf(node, countOffset);
        int count = Ext4DxNode.DxCount(node, countOffset);
        if (limit != DxLimit(countOffset) || count == 0 || count > limit)
        {
            FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx count {count} / limit {limit}.");
        }

        uint previous = 0;
        for (int i = 0; i < count; i++)
        {
            uint hash = Ext4DxNode.DxHash(node, countOffset, i);
            uint child = Ext4DxNode.DxChild(node, countOffset, i);
            if (child == 0 || child >= blockCount || hash < previous)
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx entry {i} (hash 0x{hash:X8}, block {child}) is invalid.");
            }

            previous = hash;
        }

        if (_fs.SuperBlock.HasMetadataChecksum && _fs.VerifyChecksums)
        {
            int tail = countOffset + (limit * 8);
            uint c = Ext4Checksum.Crc32C(_fs.InodeSeed(directory.Number, directory.Generation), node[..(countOffset + (count * 8))]);
            c = Ext4Checksum.Crc32C(c, node.Slice(tail, 4));
            c = Ext4Checksum.Crc32CZeros(c, 4);
            if (c != BinaryPrimitives.ReadUInt32LittleEndian(node[(tail + 4)..]))
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}, block {logical}: dx checksum mismatch.");
            }
        }
    }

    /// <summary>
    /// Reads the dx root and the index nodes on the way to the leaf for <paramref name="name"/>'s hash.
    /// Buffers of the returned frames are rented; <see cref="ReturnFrames"/> gives them back.
    /// </summary>
    private List<DxFrame> ProbeHtree(Ext4Inode directory, ReadOnlySpan<byte> name, long blockCount, out uint hash, out int version)
    {
        const string S = "ext4 htree";
        EnsureHashSettings();
        int bs = _fs.SuperBlock.BlockSize;
        var frames = new List<DxFrame>(3);
        try
        {
            var root = new DxFrame { Logical = 0, Physical = _fs.Directories.DirectoryBlock(directory, 0), Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxRootCountOffset };
            frames.Add(root);
            Span<byte> r = root.Buffer.AsSpan(0, bs);
            _fs.ReadFsBlock(root.Physical, r);
            int levels = r[0x1E];
            if (_fs.DirectoryLeaves.GetRecordLength(r, 0) != 12 || r[6] != 1 || r[8] != '.' || _fs.DirectoryLeaves.GetRecordLength(r, 12) != bs - 12 || r[12 + 6] != 2 ||
                r[0x1D] != 8 || levels >= MaxIndexLevels)
            {
                FormatError.Throw(S, -1, $"directory inode {directory.Number}: bad dx root (info length {r[0x1D]}, levels {levels}).");
            }

            version = EffectiveHashVersion(directory, r[0x1C]);
            hash = HashName(name, version);
            ValidateDxNode(directory, r, DxRootCountOffset, blockCount, 0);
            root.At = Ext4DxNode.DxSearch(r, DxRootCountOffset, hash);
            for (int level = 1; level <= levels; level++)
            {
                DxFrame parent = frames[level - 1];
                long logical = Ext4DxNode.DxChild(parent.Buffer, parent.CountOffset, parent.At);
                var frame = new DxFrame { Logical = logical, Physical = _fs.Directories.DirectoryBlock(directory, logical), Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset };
                frames.Add(frame);
                ReadDxNode(directory, frame, blockCount);
                frame.At = Ext4DxNode.DxSearch(frame.Buffer, DxNodeCountOffset, hash);
            }

            return frames;
        }
        catch
        {
            ReturnFrames(frames);
            throw;
        }
    }

    private void ReadDxNode(Ext4Inode directory, DxFrame frame, long blockCount)
    {
        int bs = _fs.SuperBlock.BlockSize;
        Span<byte> node = frame.Buffer.AsSpan(0, bs);
        _fs.ReadFsBlock(frame.Physical, node);
        if (BinaryPrimitives.ReadUInt32LittleEndian(node) != 0 || _fs.DirectoryLeaves.GetRecordLength(node, 0) != bs)
        {
            FormatError.Throw("ext4 htree", -1, $"directory inode {directory.Number}: index block {frame.Logical} lacks its empty header entry.");
        }

        ValidateDxNode(directory, node, DxNodeCountOffset, blockCount, frame.Logical);
    }

    private static void ReturnFrames(List<DxFrame> frames)
    {
        foreach (DxFrame f in frames)
        {
            if (f.Buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(f.Buffer);
                f.Buffer = [];
            }
        }
    }

    /// <summary>
    /// Moves the frames to the next leaf when its index entry continues <paramref name="hash"/> (a run of equal
    /// hashes spread over several leaves); false when the hash cannot continue there.
    /// </summary>
    private bool AdvanceToNextLeaf(Ext4Inode directory, List<DxFrame> frames, uint hash, long blockCount)
    {
        int j = frames.Count - 1;
        while (j >= 0 && frames[j].At + 1 >= Ext4DxNode.DxCount(frames[j].Buffer, frames[j].CountOffset))
        {
            j--;
        }

        if (j < 0)
        {
            return false;
        }

        frames[j].At++;
        if ((Ext4DxNode.DxHash(frames[j].Buffer, frames[j].CountOffset, frames[j].At) & ~1u) != hash)
        {
            return false;
        }

        for (int i = j + 1; i < frames.Count; i++)
        {
            DxFrame parent = frames[i - 1];
            DxFrame frame = frames[i];
            frame.Logical = Ext4DxNode.DxChild(parent.Buffer, parent.CountOffset, parent.At);
            frame.Physical = _fs.Directories.DirectoryBlock(directory, frame.Logical);
            ReadDxNode(directory, frame, blockCount);
            frame.At = 0;
        }

        return true;
    }

    private long LeafOf(List<DxFrame> frames)
    {
        DxFrame last = frames[^1];
        return Ext4DxNode.DxChild(last.Buffer, last.CountOffset, last.At);
    }

    private void WriteDxFrame(Ext4Inode directory, DxFrame frame)
    {
        Span<byte> node = frame.Buffer.AsSpan(0, _fs.SuperBlock.BlockSize);
        SealDxNode(directory, node, frame.CountOffset);
        _fs.WriteFsBlock(frame.Physical, node);
    }

    internal void AddIndexed(Ext4Inode directory, byte[] name, uint inode, byte typeCode)
    {
        int bs = _fs.SuperBlock.BlockSize;
        long blocks = _fs.Directories.CheckDirectorySize(directory);
        int needed = Ext4DirectoryLeaf.EntrySize(name.Length);
        List<DxFrame> frames = ProbeHtree(directory, name, blocks, out uint hash, out int version);
        byte[] leafBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> leaf = leafBuffer.AsSpan(0, bs);
            long leafLogical = LeafOf(frames);
            long leafPhysical = _fs.Directories.DirectoryBlock(directory, leafLogical);
            if (_fs.Directories.TryPlaceInLeaf(directory, leaf, leafLogical, leafPhysical, name, inode, typeCode, out int limit))
            {
                return;
            }

            SplitLeaf(directory, frames, blocks, leaf, leafPhysical, limit, new AddedEntry(name, inode, typeCode, hash), version);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(leafBuffer);
            ReturnFrames(frames);
        }
    }

    /// <summary>
    /// Splits a full leaf: its records and the new one, sorted by hash, are divided where the two halves are
    /// closest in size; the upper half moves to a new block whose index entry (with the continuation bit when
    /// the hash at the split also ends the lower half) goes right after the leaf's.
    /// </summary>
    private void SplitLeaf(Ext4Inode directory, List<DxFrame> frames, long blocks, Span<byte> leaf, long leafPhysical, int limit, AddedEntry added, int version)
    {
        int bs = _fs.SuperBlock.BlockSize;
        List<LeafRecord> records = CollectRecords(leaf, limit, 0, version, added);
        int split = ChooseSplit(records, limit, directory);
        uint splitHash = records[split].Hash;
        bool continued = records[split - 1].Hash == splitHash;

        // Plan the index change before touching anything: the lowest index node with room, or one more level.
        int deepest = frames.Count - 1;
        int k = deepest;
        while (k >= 0 && Ext4DxNode.DxCount(frames[k].Buffer, frames[k].CountOffset) >= Ext4DxNode.DxLimitOf(frames[k].Buffer, frames[k].CountOffset))
        {
            k--;
        }

        int newNodes;
        if (k < 0)
        {
            if (deepest + 1 >= MaxIndexLevels)
            {
                throw new IOException($"The index of directory inode {directory.Number} is full ({deepest + 1} levels{((_fs.SuperBlock.Incompatible & Ext4IncompatibleFeatures.LargeDirectories) == 0 ? "; largedir would allow one more" : string.Empty)}).");
            }

            newNodes = 1 + deepest;
        }
        else
        {
            newNodes = deepest - k;
        }

        long[] physical = _fs.Directories.AllocateDirectoryBlocks(directory, blocks, 1 + newNodes);
        WriteSplitLeaf(directory, leaf, records, split, added, limit, lowBlock: leafPhysical, highBlock: physical[0]);

        InsertIndexEntry(directory, frames, k, splitHash | (continued ? 1u : 0u), (uint)blocks, blocks + 1, physical.AsSpan(1));
        directory.Size = (blocks + 1 + newNodes) * bs;
        _fs.WriteInode(directory);
    }

    /// <summary>
    /// Inserts {hash, child} after the entry followed in the deepest frame. Full nodes below the lowest one with
    /// room (<paramref name="roomLevel"/>) are split in half from the top down; when even the root is full
    /// (<paramref name="roomLevel"/> &lt; 0) its entries first move into a new node (one more level).
    /// <paramref name="nodePhysical"/> holds the blocks mapped for new nodes, logical
    /// <paramref name="firstNodeLogical"/> on.
    /// </summary>
    private void InsertIndexEntry(Ext4Inode directory, List<DxFrame> frames, int roomLevel, uint hash, uint child, long firstNodeLogical, ReadOnlySpan<long> nodePhysical)
    {
        int bs = _fs.SuperBlock.BlockSize;
        int next = 0;
        int k = roomLevel;
        if (k < 0)
        {
            DxFrame root = frames[0];
            Span<byte> r = root.Buffer.AsSpan(0, bs);
            int count = Ext4DxNode.DxCount(r, DxRootCountOffset);
            var node = new DxFrame { Logical = firstNodeLogical + next, Physical = nodePhysical[next], Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset, At = root.At };
            next++;
            frames.Insert(1, node);
            Span<byte> n = node.Buffer.AsSpan(0, bs);
            InitializeDxNode(n);
            r.Slice(DxRootCountOffset + 4, (count * 8) - 4).CopyTo(n[(DxNodeCountOffset + 4)..]);
            Ext4DxNode.SetDxCount(n, DxNodeCountOffset, count);
            Ext4DxNode.SetDxCount(r, DxRootCountOffset, 1);
            BinaryPrimitives.WriteUInt32LittleEndian(r[(DxRootCountOffset + 4)..], (uint)node.Logical);
            r[0x1E]++;
            root.At = 0;
            k = 1;
        }

        for (int j = k + 1; j < frames.Count; j++)
        {
            DxFrame full = frames[j];
            Span<byte> f = full.Buffer.AsSpan(0, bs);
            int count = Ext4DxNode.DxCount(f, full.CountOffset);
            int half = count / 2;
            uint splitHash = Ext4DxNode.DxHash(f, full.CountOffset, half);
            var upper = new DxFrame { Logical = firstNodeLogical + next, Physical = nodePhysical[next], Buffer = ArrayPool<byte>.Shared.Rent(bs), CountOffset = DxNodeCountOffset };
            next++;
            Span<byte> u = upper.Buffer.AsSpan(0, bs);
            InitializeDxNode(u);
            f.Slice(full.CountOffset + (half * 8) + 4, ((count - half) * 8) - 4).CopyTo(u[(DxNodeCountOffset + 4)..]);
            Ext4DxNode.SetDxCount(u, DxNodeCountOffset, count - half);
            Ext4DxNode.SetDxCount(f, full.CountOffset, half);
            DxFrame parent = frames[j - 1];
            Ext4DxNode.InsertDxEntry(parent.Buffer, parent.CountOffset, parent.At + 1, splitHash, (uint)upper.Logical);
            DxFrame off;
            if (full.At >= half)
            {
                upper.At = full.At - half;
                parent.At++;
                frames[j] = upper;
                off = full;
            }
            else
            {
                off = upper;
            }

            // The half that is not on the path is finished now.
            WriteDxFrame(directory, off);
            ArrayPool<byte>.Shared.Return(off.Buffer);
            off.Buffer = [];
        }

        DxFrame last = frames[^1];
        Ext4DxNode.InsertDxEntry(last.Buffer, last.CountOffset, last.At + 1, hash, child);
        for (int j = frames.Count - 1; j >= 0; j--)
        {
            WriteDxFrame(directory, frames[j]);
        }
    }

    /// <summary>The live records of a leaf (from <paramref name="start"/>) and the new one, with their hashes, sorted by hash.</summary>
    private List<LeafRecord> CollectRecords(ReadOnlySpan<byte> block, int limit, int start, int version, AddedEntry added)
    {
        var records = new List<LeafRecord>(64);
        int offset = start;
        while (offset < limit)
        {
            int recordLength = _fs.DirectoryLeaves.GetRecordLength(block, offset);
            if (BinaryPrimitives.ReadUInt32LittleEndian(block[offset..]) != 0)
            {
                int nameLength = block[offset + 6];
                records.Add(new LeafRecord(HashName(block.Slice(offset + 8, nameLength), version), offset, nameLength, records.Count));
            }

            offset += recordLength;
        }

        records.Add(new LeafRecord(added.Hash, -1, added.Name.Length, records.Count));
        records.Sort(static (a, b) => a.Hash != b.Hash ? a.Hash.CompareTo(b.Hash) : a.Order.CompareTo(b.Order));
        return records;
    }

    /// <summary>The index where the sorted records divide into two leaves of the most even sizes.</summary>
    private static int ChooseSplit(List<LeafRecord> records, int limit, Ext4Inode directory)
    {
        int total = 0;
        foreach (LeafRecord r in records)
        {
            total += Ext4DirectoryLeaf.EntrySize(r.NameLength);
        }

        int best = -1;
        int bestLarger = int.MaxValue;
        int prefix = 0;
        for (int s = 1; s < records.Count; s++)
        {
            prefix += Ext4DirectoryLeaf.EntrySize(records[s - 1].NameLength);
            int larger = Math.Max(prefix, total - prefix);
            if (larger <= limit && larger < bestLarger)
            {
                best = s;
                bestLarger = larger;
            }
        }

        if (best < 0)
        {
            FormatError.Throw("ext4 directory", -1, $"inode {directory.Number}: a leaf cannot be split.");
        }

        return best;
    }

    /// <summary>
    /// Writes the records of a split leaf: those before <paramref name="split"/> to <paramref name="lowBlock"/>,
    /// the rest to <paramref name="highBlock"/>, each sealed. The high half is written first, so that when the low
    /// half overwrites the leaf being split, its other records already exist in their new block.
    /// </summary>
    private void WriteSplitLeaf(Ext4Inode directory, ReadOnlySpan<byte> source, List<LeafRecord> records, int split, AddedEntry added, int limit, long lowBlock, long highBlock)
    {
        int bs = _fs.SuperBlock.BlockSize;
        byte[] lowBuffer = ArrayPool<byte>.Shared.Rent(bs);
        byte[] highBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> low = lowBuffer.AsSpan(0, bs);
            Span<byte> high = highBuffer.AsSpan(0, bs);
            FillLeaf(low, source, records, 0, split, added, limit);
            FillLeaf(high, source, records, split, records.Count, added, limit);
            _fs.DirectoryLeaves.SealLeaf(directory, low);
            _fs.DirectoryLeaves.SealLeaf(directory, high);
            _fs.WriteFsBlock(highBlock, high);
            _fs.WriteFsBlock(lowBlock, low);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(lowBuffer);
            ArrayPool<byte>.Shared.Return(highBuffer);
        }
    }

    /// <summary>Writes records [<paramref name="from"/>, <paramref name="to"/>) packed into an empty leaf; the last one reaches <paramref name="limit"/>.</summary>
    private void FillLeaf(Span<byte> target, ReadOnlySpan<byte> source, List<LeafRecord> records, int from, int to, AddedEntry added, int limit)
    {
        target.Clear();
        int offset = 0;
        for (int i = from; i < to; i++)
        {
            LeafRecord r = records[i];
            int size = Ext4DirectoryLeaf.EntrySize(r.NameLength);
            int recordLength = i == to - 1 ? limit - offset : size;
            if (r.Offset < 0)
            {
                _fs.DirectoryLeaves.WriteEntry(target, offset, recordLength, added.Inode, added.Name, added.TypeCode);
            }
            else
            {
                _fs.DirectoryLeaves.WriteEntry(target, offset, recordLength, BinaryPrimitives.ReadUInt32LittleEndian(source[r.Offset..]),
                    source.Slice(r.Offset + 8, r.NameLength), source[r.Offset + 7]);
            }

            offset += size;
        }
    }

    /// <summary>
    /// Turns a full one-block linear directory into an htree: block 0 becomes the dx root ("." and ".." kept),
    /// its entries and the new one are divided by hash over two new leaves.
    /// </summary>
    internal void MakeIndexed(Ext4Inode directory, Span<byte> block, long physical, byte[] name, uint inode, byte typeCode)
    {
        const string S = "ext4 directory";
        int bs = _fs.SuperBlock.BlockSize;
        EnsureHashSettings();
        int limit = _fs.DirectoryLeaves.LeafLimit();
        int dotLength = _fs.DirectoryLeaves.GetRecordLength(block, 0);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block) == 0 || block[6] != 1 || block[8] != '.' || dotLength > limit - 12 ||
            BinaryPrimitives.ReadUInt32LittleEndian(block[dotLength..]) == 0 || block[dotLength + 6] != 2 || block[dotLength + 8] != '.' || block[dotLength + 9] != '.')
        {
            FormatError.Throw(S, -1, $"inode {directory.Number}: block 0 does not start with '.' and '..'.");
        }

        uint self = BinaryPrimitives.ReadUInt32LittleEndian(block);
        uint parent = BinaryPrimitives.ReadUInt32LittleEndian(block[dotLength..]);
        byte dotType = block[7];
        byte dotDotType = block[dotLength + 7];
        int rootVersion = _dxDefaultHashVersion;
        int version = EffectiveHashVersion(directory, rootVersion);
        var added = new AddedEntry(name, inode, typeCode, HashName(name, version));
        List<LeafRecord> records = CollectRecords(block, limit, dotLength + _fs.DirectoryLeaves.GetRecordLength(block, dotLength), version, added);
        int split = ChooseSplit(records, limit, directory);
        uint splitHash = records[split].Hash;
        bool continued = records[split - 1].Hash == splitHash;

        long[] leaves = _fs.Directories.AllocateDirectoryBlocks(directory, 1, 2);
        WriteSplitLeaf(directory, block, records, split, added, limit, lowBlock: leaves[0], highBlock: leaves[1]);

        block.Clear();
        _fs.DirectoryLeaves.WriteEntry(block, 0, 12, self, "."u8, dotType);
        _fs.DirectoryLeaves.WriteEntry(block, 12, bs - 12, parent, ".."u8, dotDotType);
        block[0x1C] = (byte)rootVersion;
        block[0x1D] = 8;
        BinaryPrimitives.WriteUInt16LittleEndian(block[DxRootCountOffset..], (ushort)DxLimit(DxRootCountOffset));
        Ext4DxNode.SetDxCount(block, DxRootCountOffset, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(block[(DxRootCountOffset + 4)..], 1);
        Ext4DxNode.InsertDxEntry(block, DxRootCountOffset, 1, splitHash | (continued ? 1u : 0u), 2);
        SealDxNode(directory, block, DxRootCountOffset);
        _fs.WriteFsBlock(physical, block);
        directory.Flags |= Ext4Inode.IndexFlag;
        directory.Size = 3L * bs;
        _fs.WriteInode(directory);
    }

    internal bool RemoveIndexed(Ext4Inode directory, byte[] name)
    {
        int bs = _fs.SuperBlock.BlockSize;
        long blocks = _fs.Directories.CheckDirectorySize(directory);
        List<DxFrame> frames = ProbeHtree(directory, name, blocks, out uint hash, out _);
        byte[] leafBuffer = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            Span<byte> leaf = leafBuffer.AsSpan(0, bs);
            while (true)
            {
                long leafLogical = LeafOf(frames);
                long leafPhysical = _fs.Directories.DirectoryBlock(directory, leafLogical);
                _fs.ReadFsBlock(leafPhysical, leaf);
                int limit = _fs.DirectoryLeaves.LeafLimit(directory, leaf, leafLogical);
                int offset = _fs.DirectoryLeaves.FindInLeaf(leaf, limit, name, out int previous);
                if (offset >= 0)
                {
                    _fs.DirectoryLeaves.RemoveFromLeaf(leaf, offset, previous);
                    _fs.DirectoryLeaves.SealLeaf(directory, leaf);
                    _fs.WriteFsBlock(leafPhysical, leaf);
                    return true;
                }

                if (!AdvanceToNextLeaf(directory, frames, hash, blocks))
                {
                    return false;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(leafBuffer);
            ReturnFrames(frames);
        }
    }

    /// <summary>One index block on the path from the dx root to a leaf.</summary>
    private sealed class DxFrame
    {
        public long Logical { get; set; }

        public long Physical { get; set; }

        public byte[] Buffer { get; set; } = [];

        /// <summary>Offset of <c>dx_countlimit</c>: 0x20 in the root, 8 in other index nodes.</summary>
        public int CountOffset { get; init; }

        /// <summary>The entry followed towards the leaf.</summary>
        public int At { get; set; }
    }

    /// <summary>A live record of a leaf being split (<see cref="Offset"/> -1 is the entry being added).</summary>
    private readonly record struct LeafRecord(uint Hash, int Offset, int NameLength, int Order);

    /// <summary>The entry being added.</summary>
    private readonly record struct AddedEntry(byte[] Name, uint Inode, byte TypeCode, uint Hash);
}
