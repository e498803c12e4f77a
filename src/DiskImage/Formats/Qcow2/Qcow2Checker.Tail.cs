using DiskImage.IO;

namespace DiskImage.Formats.Qcow2;

/// <content>The end of the last host cluster in use (QEMU's <c>qcow2_get_last_cluster</c>).</content>
internal sealed partial class Qcow2Checker
{
    /// <summary>
    /// Cuts the qcow2 file in <paramref name="host"/> (not open elsewhere for writing) after its last
    /// cluster with a non-zero stored refcount, as QEMU truncates the file after a shrink; the file
    /// is left alone when the header or a refcount block cannot be read, or nothing would be cut. First,
    /// as QEMU's <c>qcow2_shrink_reftable</c>, refcount blocks that count nothing but themselves leave
    /// the refcount table (which frees them).
    /// </summary>
    internal static void TruncateAfterLastUsedCluster(BlockDevice host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var checker = new Qcow2Checker(host) { _fileLength = host.Length };
        if (!checker.ReadHeader() || checker._externalData)
        {
            return;
        }

        checker.DropUnusedRefcountBlocks();
        long clusters = (long)(((ulong)checker._fileLength + checker.ClusterMask) >> checker._clusterBits);
        for (long c = clusters - 1; c >= 0; c--)
        {
            if (!checker.TryGetStoredRefcount((ulong)c, out ulong refcount))
            {
                return;
            }

            if (refcount != 0)
            {
                long end = (c + 1) << checker._clusterBits;
                if (end < host.Length)
                {
                    host.SetLength(end);
                    host.Flush();
                }

                return;
            }
        }
    }

    /// <summary>Removes from the refcount table every block whose only non-zero entry is its own (the table entry is cleared on disk).</summary>
    private void DropUnusedRefcountBlocks()
    {
        long perBlock = RefblockEntries;
        byte[] block = new byte[_clusterSize];
        Span<byte> zero = stackalloc byte[8];
        zero.Clear();
        for (long i = 0; i < _refTable.Length; i++)
        {
            ulong offset = _refTable[i] & RefTableOffsetMask;
            if (offset == 0 || (offset & ClusterMask) != 0 || offset >= (ulong)_fileLength)
            {
                continue;
            }

            long self = (long)(offset >> _clusterBits);
            if (self / perBlock != i)
            {
                continue;
            }

            ReadZeroFilled(offset, block);
            bool unused = true;
            for (long j = 0; j < perBlock && unused; j++)
            {
                ulong expected = j == self % perBlock ? 1UL : 0UL;
                unused = GetRefcount(block, j) == expected;
            }

            if (unused)
            {
                _host.Write((long)_refTableOffset + (i * 8), zero);
                _refTable[i] = 0;
            }
        }

        _rbIndex = -1;
        _host.Flush();
    }
}
