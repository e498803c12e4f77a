using DiskImage.IO;

namespace DiskImage.FileSystems.Xfs;

/// <summary>
/// A pass-through device that remembers which byte ranges were written (or zeroed), so that only those are copied
/// from a scratch build onto the real device.
/// </summary>
internal sealed class XfsWrittenRangeDevice(BlockDevice inner) : BlockDevice
{
    private readonly List<(long Offset, long Length)> _written = [];

    /// <inheritdoc />
    public override long Length => inner.Length;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <summary>The written ranges, sorted and merged.</summary>
    public List<(long Offset, long Length)> Ranges()
    {
        _written.Sort(static (a, b) => a.Offset.CompareTo(b.Offset));
        var merged = new List<(long Offset, long Length)>(_written.Count);
        foreach ((long o, long l) in _written)
        {
            if (merged.Count > 0 && merged[^1].Offset + merged[^1].Length >= o)
            {
                (long mo, long ml) = merged[^1];
                merged[^1] = (mo, Math.Max(ml, o + l - mo));
            }
            else
            {
                merged.Add((o, l));
            }
        }

        return merged;
    }

    /// <inheritdoc />
    protected override void ReadCore(long offset, Span<byte> buffer) => inner.ReadExactly(offset, buffer);

    /// <inheritdoc />
    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        inner.Write(offset, buffer);
        _written.Add((offset, buffer.Length));
    }

    /// <inheritdoc />
    protected override void WriteZeroesCore(long offset, long length)
    {
        inner.WriteZeroes(offset, length);
        _written.Add((offset, length));
    }

    /// <inheritdoc />
    protected override void FlushCore() => inner.Flush();
}
