using DiskImage.Formats.Qcow2;

namespace DiskImage.Conversion;

/// <summary>
/// Compresses the clusters of each unit on the worker threads and stores the results in guest
/// order: compressed when a cluster shrinks, as a normal write when it does not, not at all when it
/// is all zeros. A unit holds several small clusters so that hand-offs between threads stay rare.
/// </summary>
internal sealed class Qcow2CompressSink : CopySink
{
    private const int Skipped = 1;
    private const int Compressed = 2;
    private const int Stored = 3;
    private const int TargetUnitSize = 1024 * 1024;

    private readonly Qcow2Image _image;
    private readonly bool _skipZeroClusters;
    private readonly int _clusterSize;
    private readonly Qcow2CompressionType _type;
    private readonly int _level;

    // Writer-thread workspace for one unit's batch of compressed clusters.
    private readonly long[] _batchOffsets;
    private readonly int[] _batchLengths;

    public Qcow2CompressSink(Qcow2Image image, bool skipZeroClusters, int? level)
    {
        _image = image;
        _skipZeroClusters = skipZeroClusters;
        _clusterSize = image.ClusterSize;
        _type = image.CompressionType;
        _level = level ?? Qcow2Compression.DefaultLevel(_type);
        UnitSize = Math.Max(_clusterSize, TargetUnitSize / _clusterSize * _clusterSize);
        _batchOffsets = new long[UnitSize / _clusterSize];
        _batchLengths = new int[UnitSize / _clusterSize];
    }

    /// <summary>Bytes per unit: a whole number of clusters.</summary>
    public int UnitSize { get; }

    /// <summary>One outcome pair per cluster is kept in the slot's run table.</summary>
    public override int BlockSize => _clusterSize;

    public override int ScratchSize => UnitSize;

    public override void Process(CopySlot slot)
    {
        int valid = (int)slot.Length;
        int clusters = (valid + _clusterSize - 1) / _clusterSize;

        // The last cluster of an image whose size is not cluster aligned is compressed zero-padded.
        slot.Buffer.AsSpan(valid, (clusters * _clusterSize) - valid).Clear();
        // Compressed clusters are packed back to back in the scratch buffer, ready for one host write.
        int[] table = slot.Runs;
        int packed = 0;
        for (int i = 0; i < clusters; i++)
        {
            ReadOnlySpan<byte> cluster = slot.Buffer.AsSpan(i * _clusterSize, _clusterSize);
            if (_skipZeroClusters && !cluster.ContainsAnyExcept((byte)0))
            {
                table[2 * i] = Skipped;
            }
            else if (Qcow2Compression.TryCompress(_type, cluster, slot.Scratch.AsSpan(packed, _clusterSize), _level, out int written))
            {
                table[2 * i] = Compressed;
                table[(2 * i) + 1] = written;
                packed += written;
            }
            else
            {
                table[2 * i] = Stored;
            }
        }

        slot.RunCount = clusters;
        slot.ScratchLength = packed;
    }

    public override void Commit(CopySlot slot)
    {
        int[] table = slot.Runs;
        int batch = 0;
        int storedFrom = -1;
        for (int i = 0; i < slot.RunCount; i++)
        {
            if (table[2 * i] == Stored)
            {
                // Adjacent incompressible clusters are written as one run: one host write.
                storedFrom = storedFrom < 0 ? i : storedFrom;
                continue;
            }

            WriteStored(slot, ref storedFrom, i);
            if (table[2 * i] == Compressed)
            {
                _batchOffsets[batch] = slot.Offset + ((long)i * _clusterSize);
                _batchLengths[batch] = table[(2 * i) + 1];
                batch++;
            }
        }

        WriteStored(slot, ref storedFrom, slot.RunCount);
        if (batch > 0)
        {
            _image.WriteCompressedClusters(_batchOffsets.AsSpan(0, batch), _batchLengths.AsSpan(0, batch), slot.Scratch.AsSpan(0, slot.ScratchLength));
        }
    }

    /// <summary>Writes the incompressible clusters <paramref name="from"/> to <paramref name="to"/> (exclusive), if any, as they are.</summary>
    private void WriteStored(CopySlot slot, ref int from, int to)
    {
        if (from < 0)
        {
            return;
        }

        long start = (long)from * _clusterSize;
        int length = (int)Math.Min((long)(to - from) * _clusterSize, slot.Length - start);
        _image.Content.Write(slot.Offset + start, slot.Buffer.AsSpan((int)start, length));
        from = -1;
    }

    public override void CommitZero(long offset, long length)
    {
        // A new image reads as zeros already.
    }
}
