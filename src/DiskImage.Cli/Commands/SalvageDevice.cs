using System.Globalization;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>convert --salvage</c>: reads the source; when a read fails (a malformed cluster, an I/O error),
/// it is retried one 512-byte sector at a time, every sector that still fails reads as zeros and a
/// warning names its offset, as qemu-img does ("warning: error while reading offset N: Input/output
/// error"), and the conversion goes on.
/// </summary>
internal sealed class SalvageDevice : BlockDevice
{
    private const int Sector = 512;
    private readonly BlockDevice _inner;
    private readonly TextWriter _warnings;
    private readonly Lock _lock = new();

    public SalvageDevice(BlockDevice inner, TextWriter warnings)
    {
        _inner = inner;
        _warnings = warnings;
    }

    public override long Length => _inner.Length;

    public override bool CanWrite => false;

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        try
        {
            _inner.ReadExactly(offset, buffer);
            return;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // Sector by sector below.
        }

        long pos = offset;
        while (pos < offset + buffer.Length)
        {
            long sectorEnd = Math.Min(((pos / Sector) + 1) * Sector, offset + buffer.Length);
            Span<byte> part = buffer.Slice((int)(pos - offset), (int)(sectorEnd - pos));
            try
            {
                _inner.ReadExactly(pos, part);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                part.Clear();
                lock (_lock)
                {
                    _warnings.Write(string.Create(CultureInfo.InvariantCulture, $"{Cli.ProgramName}: warning: error while reading offset {pos}: Input/output error\n"));
                }
            }

            pos = sectorEnd;
        }
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer) => throw new NotSupportedException("The salvaged source is read-only.");

    protected override void FlushCore()
    {
    }

    protected override AllocationExtent GetAllocationCore(long offset, long maxLength) => _inner.GetAllocation(offset, maxLength);
}
