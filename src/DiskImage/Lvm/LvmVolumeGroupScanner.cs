using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// Finds the volume groups on a set of devices: reads every label and every metadata area, keeps for each
/// VG the copy with the highest seqno, and matches PVs to devices by the label's UUID (the <c>device</c>
/// hint in the text is ignored).
/// </summary>
internal static class LvmVolumeGroupScanner
{
    public static List<LvmVolumeGroup> Scan(IReadOnlyList<BlockDevice> devices)
    {
        var labels = new Dictionary<string, (BlockDevice Device, LvmLabel Label)>(StringComparer.Ordinal);
        var copies = new List<LvmMetadataCopy>();
        var areasByPv = new Dictionary<string, List<LvmMetadataArea>>(StringComparer.Ordinal);
        foreach (BlockDevice device in devices)
        {
            ArgumentNullException.ThrowIfNull(device, nameof(devices));
            LvmLabel? label = LvmLabel.TryRead(device);
            if (label is null)
            {
                continue;
            }

            if (!labels.TryAdd(label.Uuid, (device, label)))
            {
                FormatError.Throw("LVM2 label", label.Sector * LvmLabel.SectorSize, $"PV UUID {LvmUuid.Format(label.Uuid)} is on two of the devices given");
            }

            var areas = new List<LvmMetadataArea>();
            areasByPv[label.Uuid] = areas;
            foreach (LvmDiskLocation location in label.MetadataAreas)
            {
                LvmMetadataArea area = LvmMetadataArea.Read(device, location);
                areas.Add(area);
                if (area.IsIgnored)
                {
                    continue;
                }

                byte[]? text = area.ReadText();
                if (text is null)
                {
                    continue;
                }

                LvmConfigSection root = LvmConfigParser.Parse(text);
                LvmConfigSection vg = SingleVolumeGroup(root, area);
                LvmConfigValue? id = vg.GetValue("id");
                LvmConfigValue? seqno = vg.GetValue("seqno");
                if (id is not { Kind: LvmConfigValueKind.String } || LvmUuid.TryNormalize(id.Text!) is not { } vgId || seqno is not { Kind: LvmConfigValueKind.Integer })
                {
                    throw FormatError.Create("LVM2 metadata", area.Start, $"volume group {vg.Name} has no valid id or seqno");
                }

                copies.Add(new LvmMetadataCopy(area, text, root, vg, vgId, seqno.Integer));
            }
        }

        // The newest copy of each VG, in the order the VGs were first seen.
        var order = new List<string>();
        var newest = new Dictionary<string, LvmMetadataCopy>(StringComparer.Ordinal);
        foreach (LvmMetadataCopy c in copies)
        {
            if (!newest.TryGetValue(c.VolumeGroupId, out LvmMetadataCopy? best))
            {
                order.Add(c.VolumeGroupId);
                newest[c.VolumeGroupId] = c;
            }
            else if (c.SequenceNumber > best.SequenceNumber)
            {
                newest[c.VolumeGroupId] = c;
            }
            else if (c.SequenceNumber == best.SequenceNumber && !c.Text.AsSpan().SequenceEqual(best.Text))
            {
                throw FormatError.Create("LVM2 metadata", c.Area.Start, $"two copies of volume group {c.VolumeGroup.Name} have seqno {c.SequenceNumber} but differ");
            }
        }

        var result = new List<LvmVolumeGroup>();
        foreach (string vgId in order)
        {
            LvmMetadataCopy copy = newest[vgId];
            var vgLabels = new Dictionary<string, (BlockDevice, LvmLabel)>(StringComparer.Ordinal);
            var vgAreas = new List<LvmMetadataArea>();
            if (copy.VolumeGroup.GetSection("physical_volumes") is { } pvs)
            {
                foreach (LvmConfigSection pv in pvs.Sections)
                {
                    if (pv.GetValue("id") is { Kind: LvmConfigValueKind.String } pid && LvmUuid.TryNormalize(pid.Text!) is { } pvId && labels.TryGetValue(pvId, out var found))
                    {
                        vgLabels[pvId] = found;
                        vgAreas.AddRange(areasByPv[pvId]);
                    }
                }
            }

            result.Add(new LvmVolumeGroup(copy.Root, copy.VolumeGroup, vgLabels, vgAreas, options: null));
        }

        return result;
    }

    /// <summary>The one VG section at the top level of a metadata text.</summary>
    private static LvmConfigSection SingleVolumeGroup(LvmConfigSection root, LvmMetadataArea area)
    {
        LvmConfigSection? vg = null;
        foreach (LvmConfigSection s in root.Sections)
        {
            if (vg is not null)
            {
                throw FormatError.Create("LVM2 metadata", area.Start, "the text holds more than one volume group section");
            }

            vg = s;
        }

        return vg ?? throw FormatError.Create("LVM2 metadata", area.Start, "the text holds no volume group section");
    }
}
