using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// A logical volume's content: each segment maps to PV areas as device-mapper's linear and stripe targets
/// map them (dm-stripe: chunk = sector / stripe_size, stripe = chunk % N, row = chunk / N).
/// </summary>
internal sealed class LvmLogicalVolumeDevice : BlockDevice
{
    private readonly MappedSegment[] _segments;
    private readonly long _length;
    private readonly bool _writable;

    public LvmLogicalVolumeDevice(LvmLogicalVolume volume, bool writable)
    {
        long extentSize = volume.VolumeGroup.ExtentSize;
        _segments = new MappedSegment[volume.Segments.Count];
        for (int i = 0; i < _segments.Length; i++)
        {
            LvmSegment s = volume.Segments[i];
            var devices = new BlockDevice[s.Stripes.Count];
            var starts = new long[s.Stripes.Count];
            for (int k = 0; k < devices.Length; k++)
            {
                LvmStripe stripe = s.Stripes[k];
                devices[k] = stripe.PhysicalVolume.Device!;
                starts[k] = stripe.PhysicalVolume.DataOffset + (stripe.StartExtent * extentSize);
            }

            _segments[i] = new MappedSegment(s.StartExtent * extentSize, s.ExtentCount * extentSize, s.Type, s.StripeSize, devices, starts);
        }

        _length = volume.Size;
        _writable = writable;
    }

    public override long Length => _length;

    public override bool CanWrite => _writable;

    protected override void ReadCore(long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = Map(offset, buffer.Length, out BlockDevice? device, out long at, out string type);
            if (device is null)
            {
                if (type == "error")
                {
                    throw new IOException($"Reading an \"error\" segment of the logical volume at offset {offset}.");
                }

                buffer[..n].Clear();
            }
            else
            {
                device.ReadExactly(at, buffer[..n]);
            }

            offset += n;
            buffer = buffer[n..];
        }
    }

    protected override void WriteCore(long offset, ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = Map(offset, buffer.Length, out BlockDevice? device, out long at, out string type);
            if (device is null)
            {
                throw new IOException($"The logical volume's \"{type}\" segment at offset {offset} cannot be written.");
            }

            device.Write(at, buffer[..n]);
            offset += n;
            buffer = buffer[n..];
        }
    }

    protected override void FlushCore()
    {
        if (!_writable)
        {
            return;
        }

        var seen = new HashSet<BlockDevice>(ReferenceEqualityComparer.Instance);
        foreach (MappedSegment s in _segments)
        {
            foreach (BlockDevice d in s.Devices)
            {
                if (seen.Add(d) && d.CanWrite)
                {
                    d.Flush();
                }
            }
        }
    }

    protected override AllocationExtent GetAllocationCore(long offset, long maxLength)
    {
        int n = Map(offset, (int)Math.Min(maxLength, int.MaxValue), out BlockDevice? device, out long at, out string type);
        if (device is null)
        {
            return new AllocationExtent(offset, n, type == "zero" ? AllocationKind.Zero : AllocationKind.Data);
        }

        AllocationExtent e = device.GetAllocation(at, n);
        return new AllocationExtent(offset, e.Length, e.Kind);
    }

    /// <summary>Finds where <paramref name="offset"/> lives and how many bytes (at most <paramref name="count"/>) stay contiguous there.</summary>
    private int Map(long offset, int count, out BlockDevice? device, out long at, out string type)
    {
        int lo = 0, hi = _segments.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (_segments[mid].Start <= offset)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        MappedSegment s = _segments[lo];
        long rel = offset - s.Start;
        long run = s.Length - rel;
        type = s.Type;
        if (s.Devices.Length == 0)
        {
            device = null;
            at = 0;
        }
        else if (s.Devices.Length == 1)
        {
            device = s.Devices[0];
            at = s.AreaStarts[0] + rel;
        }
        else
        {
            long chunk = rel / s.StripeSize;
            long within = rel % s.StripeSize;
            int stripe = (int)(chunk % s.Devices.Length);
            long row = chunk / s.Devices.Length;
            device = s.Devices[stripe];
            at = s.AreaStarts[stripe] + (row * s.StripeSize) + within;
            run = Math.Min(run, s.StripeSize - within);
        }

        return (int)Math.Min(count, run);
    }

    private sealed record MappedSegment(long Start, long Length, string Type, long StripeSize, BlockDevice[] Devices, long[] AreaStarts);
}
