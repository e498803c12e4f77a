using DiskImage.IO;
using DiskImage.Lvm;

namespace DiskImage.Guests;

/// <summary>
/// Joins LVM2 logical volumes to a guest: reads the volume groups on the volumes probed as LVM physical
/// volumes and returns each visible LV that can be opened (linear and striped) as <c>/dev/VG/LV</c>, with
/// its <c>/dev/mapper</c> name as an alias. LVs of other segment types (thin, RAID, cache, snapshot…) are
/// left out, as are groups with a missing PV and PVs whose label or metadata does not read.
/// </summary>
internal sealed class LvmGuestVolumeProvider : IGuestVolumeProvider
{
    /// <inheritdoc/>
    public GuestProviderResult FindVolumes(IReadOnlyList<GuestVolume> volumes, bool writable)
    {
        var pvVolumes = new List<GuestVolume>();
        foreach (GuestVolume v in volumes)
        {
            if (v.FileSystemType == GuestFileSystemType.LvmPhysicalVolume)
            {
                pvVolumes.Add(v);
            }
        }

        if (pvVolumes.Count == 0)
        {
            return GuestProviderResult.Empty;
        }

        var devices = new List<BlockDevice>(pvVolumes.Count);
        foreach (GuestVolume v in pvVolumes)
        {
            devices.Add(v.Device);
        }

        IReadOnlyList<LvmVolumeGroup> groups;
        try
        {
            groups = LvmVolumeGroup.FindAll(devices);
        }
        catch (InvalidDataException)
        {
            // One damaged PV must not hide the groups on the others: leave out each PV whose own metadata does not
            // read (it stays listed as an lvm-pv volume) and read the groups of the rest.
            devices.RemoveAll(d => !ReadsAlone(d));
            groups = devices.Count == 0 ? [] : LvmVolumeGroup.FindAll(devices);
        }

        var found = new List<GuestProvidedVolume>();
        var infos = new List<GuestVolumeGroupInfo>();
        try
        {
            foreach (LvmVolumeGroup vg in groups)
            {
                var pvNames = new List<string>();
                long size = 0;
                bool complete = true;
                foreach (LvmPhysicalVolume pv in vg.PhysicalVolumes)
                {
                    size += pv.ExtentCount * vg.ExtentSize;
                    GuestVolume? owner = pv.Device is null ? null : pvVolumes.Find(v => ReferenceEquals(v.Device, pv.Device));
                    if (owner is null)
                    {
                        complete = false;
                        continue;
                    }

                    pvNames.Add(owner.Name);
                }

                infos.Add(new GuestVolumeGroupInfo("/dev/" + vg.Name, Raw(vg.Uuid), size, pvNames));
                if (!complete)
                {
                    continue;
                }

                foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
                {
                    if (!lv.IsVisible || !lv.CanOpen)
                    {
                        continue;
                    }

                    found.Add(new GuestProvidedVolume(lv.DevicePath, [lv.MapperPath], "/dev/" + vg.Name, Raw(lv.Uuid), lv.Open(writable)));
                }
            }
        }
        catch
        {
            foreach (GuestProvidedVolume v in found)
            {
                v.Device.Dispose();
            }

            throw;
        }

        return new GuestProviderResult(found, infos);
    }

    private static bool ReadsAlone(BlockDevice device)
    {
        try
        {
            LvmVolumeGroup.FindAll([device]);
            return true;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>An LVM UUID as libguestfs prints it: the 32 characters without LVM's dashes.</summary>
    private static string Raw(string uuid) => uuid.Replace("-", string.Empty, StringComparison.Ordinal);
}
