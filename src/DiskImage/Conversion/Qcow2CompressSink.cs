using DiskImage.Formats.Qcow2;

namespace DiskImage.Conversion;

/// <summary>
/// Compresses each cluster on the worker threads and stores the results in guest order: compressed
/// when it shrinks, as a normal write when it does not, not at all when it is all zeros.
/// </summary>
internal sealed class Qcow2CompressSink(Qcow2Image image, bool skipZeroClusters) : CopySink
{
    private const int Skipped = 1;
    private const int Compressed = 2;
    private const int Stored = 3;

    private readonly int _clusterSize = image.ClusterSize;
    private readonly Qcow2CompressionType _type = image.CompressionType;

    public override int BlockSize => 0;

    public override int ScratchSize => _clusterSize;

    public override void Process(CopySlot slot)
    {
        Span<byte> cluster = slot.Buffer.AsSpan(0, _clusterSize);

        // The last cluster of an image whose size is not cluster aligned is compressed zero-padded.
        cluster[(int)slot.Length..].Clear();
        if (skipZeroClusters && !cluster.ContainsAnyExcept((byte)0))
        {
            slot.Outcome = Skipped;
            return;
        }

        if (Qcow2Compression.TryCompress(_type, cluster, slot.Scratch.AsSpan(0, _clusterSize), out int written))
        {
            slot.Outcome = Compressed;
            slot.ScratchLength = written;
        }
        else
        {
            slot.Outcome = Stored;
        }
    }

    public override void Commit(CopySlot slot)
    {
        switch (slot.Outcome)
        {
            case Compressed:
                image.WriteCompressedCluster(slot.Offset, slot.Scratch.AsSpan(0, slot.ScratchLength));
                break;
            case Stored:
                image.Content.Write(slot.Offset, slot.Buffer.AsSpan(0, (int)slot.Length));
                break;
            default:
                break;
        }
    }

    public override void CommitZero(long offset, long length)
    {
        // A new image reads as zeros already.
    }
}
