using System.Buffers.Binary;
using DiskImage.IO;

namespace DiskImage.FileSystems.Ext4;

// Transactions: every change is an operation (a jbd2 "handle") whose metadata blocks are buffered in the running
// transaction; a failed operation is undone in memory; the transaction is committed through the journal (or, without
// one, written in place with its pre-images kept for undo) when it grows large, on Flush and on Dispose.
public sealed partial class Ext4FileSystem
{
    private const int InPlaceTransactionLimit = 2048;

    private Ext4TransactionDevice? _transaction;
    private Ext4Journal? _journal;
    private bool _inOperation;
    private bool _operationCompleted;
    private bool _committedNotCheckpointed;
    internal bool _reusedFreedBlocks;
    internal byte[]?[] _freedInTransaction = [];
    private int _transactionLimit = InPlaceTransactionLimit;

    /// <summary>Starts an operation; returns whether this call started it (nested calls join the outer one).</summary>
    internal bool BeginOperation()
    {
        if (!_writable || _disposed || _inOperation)
        {
            return false;
        }

        if (_committedNotCheckpointed)
        {
            // A commit whose checkpoint failed is finished before anything else changes.
            Checkpoint();
        }

        _transaction!.BeginHandle();
        _inOperation = true;
        _operationCompleted = false;
        return true;
    }

    /// <summary>The successful end of an <see cref="Ext4Operation"/>.</summary>
    internal void CompleteOperation(bool started)
    {
        if (started)
        {
            _operationCompleted = true;
            EndOperation(true);
        }
    }

    /// <summary>The end of an <see cref="Ext4Operation"/> scope: undoes the operation unless it completed.</summary>
    internal void LeaveOperation(bool started)
    {
        if (started && !_operationCompleted)
        {
            AbortOperation(true);
        }
    }

    /// <summary>Ends an operation started by <see cref="BeginOperation"/>: its metadata joins the running transaction, committed once large.</summary>
    internal void EndOperation(bool started)
    {
        if (!started)
        {
            return;
        }

        try
        {
            FlushMetadata();
        }
        catch
        {
            AbortOperation(started);
            throw;
        }

        _transaction!.EndHandle();
        _inOperation = false;
        if (_transaction.Count >= _transactionLimit)
        {
            Commit();
        }
    }

    /// <summary>Undoes a failed operation: its block images are dropped and the in-memory state is read again.</summary>
    internal void AbortOperation(bool started)
    {
        if (!started)
        {
            return;
        }

        _inOperation = false;
        _transaction!.AbortHandle();
        ReloadState();
    }

    /// <summary>Reads the superblock, descriptors and cached inodes again (through the running transaction) and drops the caches.</summary>
    private void ReloadState()
    {
        int bs = _sb.BlockSize;
        _device.ReadExactly(Ext4SuperBlock.Offset, _sbRaw);
        long descBlocks = _descriptors.Length / bs;
        for (long i = 0; i < descBlocks; i++)
        {
            _device.ReadExactly(DescriptorBlockNumber(_sb, i) * bs, _descriptors.AsSpan((int)(i * bs), bs));
        }

        Array.Clear(_blockBitmaps);
        Array.Clear(_inodeBitmaps);
        Array.Clear(_blockBitmapDirty);
        Array.Clear(_inodeBitmapDirty);
        Array.Clear(_descriptorDirty);
        _dirtyDescriptorBlocks.Clear();
        _metadataDirty = false;

        // Inodes others hold (the root, files open for writing) are refreshed in place; the rest are read again when needed.
        var keep = new List<Ext4Inode> { _root.Inode };
        foreach (uint number in _openCounts.Keys)
        {
            if (_inodeCache.TryGetValue(number, out Ext4Inode? inode))
            {
                keep.Add(inode);
            }
        }

        _inodeCache.Clear();
        _dirtyInodes.Clear();
        foreach (Ext4Inode inode in keep)
        {
            _device.ReadExactly(InodeOffset(inode.Number), inode.Raw);
            _inodeCache[inode.Number] = inode;
        }

        _directoryCache.Clear();
        ExtentPaths.InvalidateExtentCache();
    }

    /// <summary>Sets up the running transaction and, for a journaled file system, loads the journal.</summary>
    private void InitializeTransactions()
    {
        _freedInTransaction = new byte[]?[_sb.GroupCount];
        if ((_sb.Compatible & Ext4CompatibleFeatures.HasJournal) == 0)
        {
            return;
        }

        _journal = Ext4Journal.Load(_transaction!.Inner, JournalBlockMap(), _sb.BlockSize);
        _journal.CheckWritable();
        _transactionLimit = Math.Min(InPlaceTransactionLimit, _journal.TransactionLimit);
    }

    /// <summary>The physical block of every block of the journal inode.</summary>
    private long[] JournalBlockMap()
    {
        uint journalInode = BinaryPrimitives.ReadUInt32LittleEndian(_sbRaw.AsSpan(0xE0));
        Ext4Inode journal = ReadInode(journalInode);
        long blocks = journal.Size / _sb.BlockSize;
        if (blocks < 2 || blocks > int.MaxValue / 8)
        {
            FormatError.Throw("ext4 journal", -1, $"the journal inode's size {journal.Size} is out of range.");
        }

        long[] map = new long[blocks];
        long at = 0;
        while (at < blocks)
        {
            long physical = MapLogicalRun(journal, at, blocks - at, out long run);
            if (physical <= 0 || run <= 0)
            {
                FormatError.Throw("ext4 journal", -1, $"journal block {at} is not mapped.");
            }

            for (long i = 0; i < run && at < blocks; i++)
            {
                map[at++] = physical + i;
            }
        }

        return map;
    }

    /// <summary>Whether any of <paramref name="count"/> blocks from <paramref name="block"/> was freed by the running transaction.</summary>
    internal bool AnyFreedInTransaction(long block, long count)
    {
        for (long b = block; b < block + count; b++)
        {
            uint g = GroupOfBlock(b);
            if (_freedInTransaction[g] is { } freed && Ext4Bitmap.TestBit(freed, (int)((b - _sb.FirstDataBlock) % _sb.BlocksPerGroup)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Writes zeros over data blocks (making an unwritten extent written), through the transaction only where it must.</summary>
    internal void WriteDataZeroes(long block, long count)
    {
        bool viaTransaction = _reusedFreedBlocks && AnyFreedInTransaction(block, count);
        for (long b = block; !viaTransaction && b < block + count && _transaction!.Count != 0; b++)
        {
            viaTransaction = _transaction.Contains(b);
        }

        if (viaTransaction)
        {
            _device.WriteZeroes(block * _sb.BlockSize, count * _sb.BlockSize);
        }
        else
        {
            _transaction!.Inner.WriteZeroes(block * _sb.BlockSize, count * _sb.BlockSize);
        }
    }

    /// <summary>Writes the in-memory superblock into the running transaction.</summary>
    private void WriteSuperblockToTransaction() => _device.Write(Ext4SuperBlock.Offset, _sbRaw);

    /// <summary>
    /// Commits the running transaction: through the journal when there is one and the transaction fits, otherwise in
    /// place. A failure before the commit keeps the transaction for the next attempt; one after it (in the checkpoint)
    /// is finished by the next attempt, or by the replay at the next open.
    /// </summary>
    private void Commit()
    {
        if (_committedNotCheckpointed)
        {
            Checkpoint();
            return;
        }

        FlushMetadata();
        if (_transaction!.Count == 0)
        {
            return;
        }

        if (_journal is not null && _journal.Fits(_transaction.Count + 1))
        {
            CommitThroughJournal();
        }
        else
        {
            CommitInPlace();
        }
    }

    private void CommitThroughJournal()
    {
        Ext4Journal journal = _journal!;
        BlockDevice inner = _transaction!.Inner;

        // needs_recovery: in the journaled superblock, and on the device ahead of the commit block (without it the
        // kernel would discard the log). The copy on the device keeps everything else as it is there.
        SetRecoverFlag(_sbRaw, true);
        WriteSuperblockToTransaction();
        byte[] onDisk = new byte[Ext4SuperBlock.Size];
        inner.ReadExactly(Ext4SuperBlock.Offset, onDisk);
        if (SetRecoverFlag(onDisk, true))
        {
            inner.Write(Ext4SuperBlock.Offset, onDisk);
        }

        journal.SetFeatures(_sb.Is64Bit, _sb.HasMetadataChecksum);
        journal.WriteTransaction(_transaction.SortedBlocks(), _transaction.Image, Now().Seconds);
        _committedNotCheckpointed = true;
        Checkpoint();
    }

    /// <summary>Writes a committed transaction in place, then empties the log and clears needs_recovery.</summary>
    private void Checkpoint()
    {
        BlockDevice inner = _transaction!.Inner;
        int bs = _sb.BlockSize;
        foreach (long block in _transaction.SortedBlocks())
        {
            inner.Write(block * bs, _transaction.Image(block).AsSpan(0, bs));
        }

        inner.Flush();
        _journal!.MarkEmpty();
        inner.Flush();
        SetRecoverFlag(_sbRaw, false);
        inner.Write(Ext4SuperBlock.Offset, _sbRaw);
        inner.Flush();
        EndTransaction();
        _committedNotCheckpointed = false;
    }

    /// <summary>
    /// Without a journal: the superblock is marked not clean first (as the kernel does when it mounts such a file
    /// system), the blocks are written, flushed, and the superblock marked clean. When a write fails, the blocks'
    /// earlier contents are written back.
    /// </summary>
    private void CommitInPlace()
    {
        BlockDevice inner = _transaction!.Inner;
        int bs = _sb.BlockSize;
        long[] blocks = _transaction.SortedBlocks();
        byte[][] before = new byte[blocks.Length][];
        for (int i = 0; i < blocks.Length; i++)
        {
            before[i] = new byte[bs];
            inner.ReadExactly(blocks[i] * bs, before[i]);
        }

        byte[] notClean = new byte[Ext4SuperBlock.Size];
        inner.ReadExactly(Ext4SuperBlock.Offset, notClean);
        SetValidState(notClean, false);
        inner.Write(Ext4SuperBlock.Offset, notClean);
        inner.Flush();
        try
        {
            SetValidState(_sbRaw, false);
            WriteSuperblockToTransaction();
            foreach (long block in blocks)
            {
                inner.Write(block * bs, _transaction.Image(block).AsSpan(0, bs));
            }

            inner.Flush();
        }
        catch
        {
            SetValidState(_sbRaw, true);
            WriteSuperblockToTransaction();
            try
            {
                for (int i = 0; i < blocks.Length; i++)
                {
                    inner.Write(blocks[i] * bs, before[i]);
                }

                inner.Flush();
            }
            catch (IOException)
            {
                // The device refuses the undo too: the file system stays marked not clean, for e2fsck to check.
            }

            throw;
        }

        SetValidState(_sbRaw, true);
        inner.Write(Ext4SuperBlock.Offset, _sbRaw);
        inner.Flush();
        EndTransaction();
    }

    private void EndTransaction()
    {
        _transaction!.Clear();
        Array.Clear(_freedInTransaction);
        _reusedFreedBlocks = false;
    }

    /// <summary>Sets or clears needs_recovery (with the superblock checksum); returns whether it changed.</summary>
    private bool SetRecoverFlag(byte[] sb, bool on)
    {
        uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x60));
        uint want = on ? incompat | (uint)Ext4IncompatibleFeatures.Recover : incompat & ~(uint)Ext4IncompatibleFeatures.Recover;
        BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x60), want);
        if (_sb.HasMetadataChecksum)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x3FC), Ext4Checksum.Crc32C(~0u, sb.AsSpan(0, 0x3FC)));
        }

        return want != incompat;
    }

    /// <summary>
    /// Opening for writing a file system whose journal needs recovery: the journal is replayed onto the device as the
    /// kernel does at mount, and needs_recovery cleared.
    /// </summary>
    private static void ReplayJournal(BlockDevice device, Ext4OpenOptions options)
    {
        long[] map;
        int bs;
        long blocks;
        using (Ext4FileSystem reader = Open(device, new Ext4OpenOptions { AllowJournalRecoveryNeeded = true, VerifyChecksums = options.VerifyChecksums }, leaveOpen: true))
        {
            if ((reader._sb.Compatible & Ext4CompatibleFeatures.HasJournal) == 0)
            {
                FormatError.Throw("ext4 superblock", Ext4SuperBlock.Offset, "needs_recovery is set but the file system has no journal.");
            }

            reader._sbRaw = new byte[Ext4SuperBlock.Size];
            device.ReadExactly(Ext4SuperBlock.Offset, reader._sbRaw);
            map = reader.JournalBlockMap();
            bs = reader._sb.BlockSize;
            blocks = reader._sb.BlocksCount;
        }

        Ext4Journal journal = Ext4Journal.Load(device, map, bs);
        Ext4JournalReplay.Replay(journal, device, bs, blocks);

        // The superblock may have come from the journal: clear needs_recovery in what is on the device now.
        byte[] sb = new byte[Ext4SuperBlock.Size];
        device.ReadExactly(Ext4SuperBlock.Offset, sb);
        uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x60)) & ~(uint)Ext4IncompatibleFeatures.Recover;
        BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x60), incompat);
        if ((BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x64)) & (uint)Ext4ReadOnlyCompatibleFeatures.MetadataChecksum) != 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x3FC), Ext4Checksum.Crc32C(~0u, sb.AsSpan(0, 0x3FC)));
        }

        device.Write(Ext4SuperBlock.Offset, sb);
        device.Flush();
    }
}
