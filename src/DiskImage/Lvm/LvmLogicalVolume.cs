using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// A logical volume of an <see cref="LvmVolumeGroup"/>. <see cref="Open"/> gives its content as a
/// <see cref="BlockDevice"/> when every segment is linear, striped, zero or error; thin, RAID, cache,
/// snapshot, mirror and VDO volumes are listed but refused.
/// </summary>
/// <remarks>Instances are snapshots of one metadata version; a change to the VG makes new ones.</remarks>
public sealed class LvmLogicalVolume
{
    internal LvmLogicalVolume(LvmVolumeGroup volumeGroup, string name, string uuid, IReadOnlyList<string> status, IReadOnlyList<LvmSegment> segments, long extentCount)
    {
        VolumeGroup = volumeGroup;
        Name = name;
        Uuid = uuid;
        Status = status;
        Segments = segments;
        ExtentCount = extentCount;
    }

    /// <summary>The volume group the LV belongs to.</summary>
    public LvmVolumeGroup VolumeGroup { get; }

    /// <summary>The LV name.</summary>
    public string Name { get; }

    /// <summary>The LV UUID in display form.</summary>
    public string Uuid { get; }

    /// <summary>The status words (<c>READ</c>, <c>WRITE</c>, <c>VISIBLE</c>, …).</summary>
    public IReadOnlyList<string> Status { get; }

    /// <summary>Whether the LV is visible (hidden LVs are parts of others: <c>_tmeta</c>, <c>_rimage_0</c>, <c>lvol0_pmspare</c>).</summary>
    public bool IsVisible => Contains(Status, "VISIBLE");

    /// <summary>The segments in logical-extent order.</summary>
    public IReadOnlyList<LvmSegment> Segments { get; }

    /// <summary>The number of logical extents.</summary>
    public long ExtentCount { get; }

    /// <summary>The size in bytes.</summary>
    public long Size => ExtentCount * VolumeGroup.ExtentSize;

    /// <summary>The device path, <c>/dev/VG/LV</c>.</summary>
    public string DevicePath => $"/dev/{VolumeGroup.Name}/{Name}";

    /// <summary>The device-mapper path, <c>/dev/mapper/VG-LV</c> with every <c>-</c> inside the names doubled.</summary>
    public string MapperPath => $"/dev/mapper/{VolumeGroup.Name.Replace("-", "--", StringComparison.Ordinal)}-{Name.Replace("-", "--", StringComparison.Ordinal)}";

    /// <summary>
    /// Why <see cref="Open"/> refuses this LV (an unsupported segment type, a pvmove in progress, a missing PV),
    /// or null when it can be opened.
    /// </summary>
    public string? UnsupportedReason
    {
        get
        {
            if (Contains(Status, "PVMOVE") || Contains(Status, "LOCKED"))
            {
                return $"Logical volume {VolumeGroup.Name}/{Name} is in the middle of a pvmove.";
            }

            foreach (LvmSegment s in Segments)
            {
                if (!s.IsSupported)
                {
                    return $"Logical volume {VolumeGroup.Name}/{Name} has a \"{s.Type}\" segment; only linear and striped (and zero/error) segments are supported.";
                }

                foreach (LvmStripe stripe in s.Stripes)
                {
                    if (stripe.PhysicalVolume.IsMissing)
                    {
                        return $"Logical volume {VolumeGroup.Name}/{Name} uses physical volume {stripe.PhysicalVolume.Name} ({stripe.PhysicalVolume.Uuid}), which is missing.";
                    }
                }
            }

            return null;
        }
    }

    /// <summary>Whether <see cref="Open"/> can map the LV.</summary>
    public bool CanOpen => UnsupportedReason is null;

    /// <summary>
    /// Opens the LV's content as a device. The device reads and writes the PVs' devices directly (it borrows
    /// them: disposing it leaves them open) and is valid as long as they are.
    /// </summary>
    /// <param name="writable">Whether the device accepts writes; default: when every PV device does.</param>
    /// <exception cref="NotSupportedException">A segment type is not supported (thin, RAID, cache, snapshot, mirror, …) or the LV is being moved.</exception>
    /// <exception cref="InvalidOperationException">A PV the LV uses is missing, or <paramref name="writable"/> is true and a PV device is read-only.</exception>
    public BlockDevice Open(bool? writable = null)
    {
        if (Contains(Status, "PVMOVE") || Contains(Status, "LOCKED"))
        {
            throw new NotSupportedException(UnsupportedReason);
        }

        foreach (LvmSegment s in Segments)
        {
            if (!s.IsSupported)
            {
                throw new NotSupportedException($"Logical volume {VolumeGroup.Name}/{Name} has a \"{s.Type}\" segment; only linear and striped (and zero/error) segments are supported.");
            }
        }

        string? reason = UnsupportedReason;
        if (reason is not null)
        {
            throw new InvalidOperationException(reason);
        }

        bool all = true;
        foreach (LvmSegment s in Segments)
        {
            foreach (LvmStripe stripe in s.Stripes)
            {
                all &= stripe.PhysicalVolume.Device!.CanWrite;
            }
        }

        if (writable == true && !all)
        {
            throw new InvalidOperationException($"Logical volume {VolumeGroup.Name}/{Name} cannot be opened writable: a physical volume's device is read-only.");
        }

        return new LvmLogicalVolumeDevice(this, writable ?? all);
    }

    private static bool Contains(IReadOnlyList<string> words, string word)
    {
        foreach (string w in words)
        {
            if (w == word)
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() => $"{VolumeGroup.Name}/{Name} ({Size} bytes, {Segments.Count} segments)";
}
