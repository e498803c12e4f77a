using System.Buffers;

namespace DiskImage.Conversion;

/// <summary>One unit in flight: where it is, its bytes, and what the worker found out about them.</summary>
internal sealed class CopySlot(byte[] buffer, byte[]? scratch, int[] runs)
{
    public long Sequence = -1;
    public int State;
    public long Offset;
    public long Length;
    public bool IsZeroRange;

    /// <summary>Data read from the source (unit-sized).</summary>
    public byte[] Buffer { get; private set; } = buffer;

    /// <summary>Sink workspace, e.g. compressed output.</summary>
    public byte[]? Scratch { get; private set; } = scratch;

    /// <summary>(start, length) pairs of the non-zero runs inside the unit.</summary>
    public int[] Runs { get; } = runs;

    public int RunCount;

    /// <summary>Sink-defined outcome (e.g. skipped, compressed, stored).</summary>
    public int Outcome;

    /// <summary>Sink-defined length of the scratch output.</summary>
    public int ScratchLength;

    public void SetZeroRange(long offset, long length)
    {
        Offset = offset;
        Length = length;
        IsZeroRange = true;
    }

    public void SetData(long offset, int length)
    {
        Offset = offset;
        Length = length;
        IsZeroRange = false;
        RunCount = 0;
        Outcome = 0;
        ScratchLength = 0;
    }

    public void Release()
    {
        if (Buffer.Length != 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = [];
        }

        if (Scratch is { Length: > 0 } s)
        {
            ArrayPool<byte>.Shared.Return(s);
            Scratch = null;
        }
    }
}
