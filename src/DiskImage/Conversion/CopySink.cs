namespace DiskImage.Conversion;

/// <summary>Where the pipeline's units go. <see cref="Process"/> runs on worker threads; the commits run in source order on one thread.</summary>
internal abstract class CopySink
{
    /// <summary>Zero-detection granularity within a unit, or 0 for none.</summary>
    public abstract int BlockSize { get; }

    /// <summary>Bytes of scratch space each slot needs.</summary>
    public virtual int ScratchSize => 0;

    /// <summary>Inspects a unit read from the source (worker thread).</summary>
    public abstract void Process(CopySlot slot);

    /// <summary>Stores a processed unit (writer thread, source order).</summary>
    public abstract void Commit(CopySlot slot);

    /// <summary>Handles a range the source reports as reading zeros (writer thread, source order).</summary>
    public abstract void CommitZero(long offset, long length);

    /// <summary>Records the non-zero runs of <c>slot</c>'s data at <see cref="BlockSize"/> granularity.</summary>
    protected void FindDataRuns(CopySlot slot)
    {
        int length = (int)slot.Length;
        int block = BlockSize;
        int[] runs = slot.Runs;
        int count = 0;
        if (block == 0)
        {
            runs[0] = 0;
            runs[1] = length;
            slot.RunCount = 1;
            return;
        }

        ReadOnlySpan<byte> data = slot.Buffer.AsSpan(0, length);
        int pos = 0;
        while (pos < length)
        {
            // Jump straight to the block holding the next non-zero byte.
            int nonZero = data[pos..].IndexOfAnyExcept((byte)0);
            if (nonZero < 0)
            {
                break;
            }

            int start = (pos + nonZero) / block * block;
            int end = start;
            while (end < length && data.Slice(end, Math.Min(block, length - end)).ContainsAnyExcept((byte)0))
            {
                end = Math.Min(end + block, length);
            }

            if (count > 0 && runs[(2 * count) - 2] + runs[(2 * count) - 1] == start)
            {
                runs[(2 * count) - 1] += end - start;
            }
            else
            {
                runs[2 * count] = start;
                runs[(2 * count) + 1] = end - start;
                count++;
            }

            pos = end;
        }

        slot.RunCount = count;
    }
}
