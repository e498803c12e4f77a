using System.Diagnostics.CodeAnalysis;
using DiskImage.IO;

namespace DiskImage.Lvm;

/// <summary>
/// Turns a VG section of the metadata text into the PV and LV model, checking what LVM's importer checks
/// (import_vsn1.c): ids, extent sizes, segments that cover each LV exactly, areas within their PVs, no
/// extent used twice. Every size is checked for overflow before it is multiplied.
/// </summary>
internal static class LvmMetadataImporter
{
    private const string Structure = "LVM2 metadata";

    /// <summary>The largest extent size accepted, in sectors (2^32 sectors, 2 TiB).</summary>
    private const long MaxExtentSectors = 1L << 32;

    /// <summary>The largest byte size anything may describe (2^62: no product overflows a long).</summary>
    private const long MaxBytes = 1L << 62;

    public static LvmVolumeGroupContents Import(LvmVolumeGroup vg, LvmConfigSection section, Func<string, BlockDevice?> findDevice)
    {
        string uuid = Id(section, section.Name);
        long seqno = Int(section, "seqno", section.Name, 0, long.MaxValue);
        long extentSectors = Int(section, "extent_size", section.Name, 1, MaxExtentSectors);
        long extentSize = extentSectors * 512;
        string format = Str(section, "format", section.Name, optional: true) ?? "lvm2";
        if (format != "lvm2")
        {
            throw new NotSupportedException($"Volume group {section.Name} has metadata format \"{format}\"; only lvm2 is supported.");
        }

        var pvs = new List<LvmPhysicalVolume>();
        var pvByName = new Dictionary<string, LvmPhysicalVolume>(StringComparer.Ordinal);
        var pvUuids = new HashSet<string>(StringComparer.Ordinal);
        LvmConfigSection pvSection = section.GetSection("physical_volumes") ?? Throw<LvmConfigSection>($"volume group {section.Name} has no physical_volumes section");
        foreach (LvmConfigSection p in pvSection.Sections)
        {
            string id = Id(p, p.Name);
            if (!pvUuids.Add(id))
            {
                Throw($"physical volume id {id} appears twice in volume group {section.Name}");
            }

            long devSize = Int(p, "dev_size", p.Name, 0, MaxBytes / 512, optional: true);
            long peStart = Int(p, "pe_start", p.Name, 0, MaxBytes / 512);
            long peCount = Int(p, "pe_count", p.Name, 0, MaxBytes / 512);
            if (peCount > (MaxBytes / 512 - peStart) / extentSectors)
            {
                Throw($"physical volume {p.Name}: pe_start {peStart} + pe_count {peCount} × extent_size {extentSectors} overflows");
            }

            BlockDevice? device = findDevice(id);
            long end = (peStart + (peCount * extentSectors)) * 512;
            if (device is not null && end > device.Length)
            {
                Throw($"physical volume {p.Name}: its {peCount} extents end at byte {end}, beyond its device ({device.Length} bytes)");
            }

            var pv = new LvmPhysicalVolume(p.Name, LvmUuid.Format(id), device, devSize * 512, peStart * 512, peCount, Words(p, "status"));
            pvs.Add(pv);
            pvByName[p.Name] = pv;
        }

        var result = new LvmVolumeGroupContents(section.Name, LvmUuid.Format(uuid), seqno, extentSize, pvs);
        LvmConfigSection? lvSection = section.GetSection("logical_volumes");
        List<(LvmPhysicalVolume Pv, long Start, long Count, string Lv)> used = result.UsedAreas;
        if (lvSection is not null)
        {
            foreach (LvmConfigSection l in lvSection.Sections)
            {
                result.LogicalVolumes.Add(ImportLogicalVolume(vg, l, extentSectors, pvByName, used));
            }
        }

        // No physical extent may belong to two areas (vg_validate).
        used.Sort((a, b) => a.Pv == b.Pv ? a.Start.CompareTo(b.Start) : pvs.IndexOf(a.Pv).CompareTo(pvs.IndexOf(b.Pv)));
        for (int i = 1; i < used.Count; i++)
        {
            var prev = used[i - 1];
            var cur = used[i];
            if (prev.Pv == cur.Pv && prev.Start + prev.Count > cur.Start)
            {
                Throw($"extent {cur.Start} of physical volume {cur.Pv.Name} is used by both {prev.Lv} and {cur.Lv}");
            }
        }

        return result;
    }

    private static LvmLogicalVolume ImportLogicalVolume(LvmVolumeGroup vg, LvmConfigSection l, long extentSectors, Dictionary<string, LvmPhysicalVolume> pvByName, List<(LvmPhysicalVolume, long, long, string)> used)
    {
        string id = Id(l, l.Name);
        long segmentCount = Int(l, "segment_count", l.Name, 0, LvmConfigParser.MaxNodes);
        var segments = new List<LvmSegment>();
        foreach (LvmConfigSection s in l.Sections)
        {
            if (s.Name.StartsWith("segment", StringComparison.Ordinal))
            {
                segments.Add(ImportSegment(l.Name, s, extentSectors, pvByName, used));
            }
        }

        if (segments.Count != segmentCount)
        {
            Throw($"logical volume {l.Name}: segment_count is {segmentCount} but {segments.Count} segments are present");
        }

        segments.Sort((a, b) => a.StartExtent.CompareTo(b.StartExtent));
        long next = 0;
        foreach (LvmSegment seg in segments)
        {
            if (seg.StartExtent != next)
            {
                Throw($"logical volume {l.Name}: the segment at extent {seg.StartExtent} does not follow the previous one (extent {next})");
            }

            next += seg.ExtentCount;
            if (next > MaxBytes / 512 / extentSectors)
            {
                // Extent counts are bounded so that ExtentCount × ExtentSize never overflows.
                Throw($"logical volume {l.Name}: its extent count overflows");
            }
        }

        return new LvmLogicalVolume(vg, l.Name, LvmUuid.Format(id), Words(l, "status"), segments, next);
    }

    private static LvmSegment ImportSegment(string lv, LvmConfigSection s, long extentSectors, Dictionary<string, LvmPhysicalVolume> pvByName, List<(LvmPhysicalVolume, long, long, string)> used)
    {
        string where = $"{lv}/{s.Name}";
        long start = Int(s, "start_extent", where, 0, 1L << 40);
        long count = Int(s, "extent_count", where, 1, 1L << 40);
        string type = Str(s, "type", where, optional: false)!;
        if (type is "striped" or "linear")
        {
            long stripeCount = Int(s, "stripe_count", where, 1, 128, optional: type == "linear", defaultValue: 1);
            long stripeSectors = stripeCount > 1 ? Int(s, "stripe_size", where, 1, 1L << 31) : Int(s, "stripe_size", where, 0, 1L << 31, optional: true);
            if (stripeCount > 1 && extentSectors % stripeSectors != 0)
            {
                Throw($"{where}: stripe_size {stripeSectors} does not divide the extent size {extentSectors}");
            }

            if (count % stripeCount != 0)
            {
                Throw($"{where}: extent_count {count} is not a multiple of stripe_count {stripeCount}");
            }

            LvmConfigValue stripes = s.GetValue("stripes") ?? Throw<LvmConfigValue>($"{where} has no stripes");
            if (stripes.Kind != LvmConfigValueKind.Array || stripes.Items!.Count != stripeCount * 2)
            {
                Throw($"{where}: stripes must list {stripeCount} \"pvN\", start pairs");
            }

            long areaLength = count / stripeCount;
            var areas = new List<LvmStripe>();
            for (int i = 0; i < stripeCount; i++)
            {
                LvmConfigValue name = stripes.Items![2 * i];
                LvmConfigValue pe = stripes.Items[(2 * i) + 1];
                if (name.Kind != LvmConfigValueKind.String || pe.Kind != LvmConfigValueKind.Integer || pe.Integer < 0)
                {
                    Throw($"{where}: stripe {i} is not a \"pvN\", start pair");
                }

                if (!pvByName.TryGetValue(name.Text!, out LvmPhysicalVolume? pv))
                {
                    Throw($"{where}: stripe {i} names physical volume \"{name.Text}\", which the volume group does not have");
                }

                if (pe.Integer > pv.ExtentCount || areaLength > pv.ExtentCount - pe.Integer)
                {
                    Throw($"{where}: stripe {i} [{pe.Integer}, +{areaLength}) lies beyond the {pv.ExtentCount} extents of {pv.Name}");
                }

                areas.Add(new LvmStripe(pv, pe.Integer));
                used.Add((pv, pe.Integer, areaLength, lv));
            }

            return new LvmSegment(start, count, type, (int)stripeCount, stripeCount > 1 ? stripeSectors * 512 : 0, areas);
        }

        // Other types are listed, not mapped; areas naming PVs directly (pvmove mirrors) still count as used.
        LvmConfigValue? raw = s.GetValue("areas") ?? s.GetValue("stripes");
        if (raw is { Kind: LvmConfigValueKind.Array })
        {
            for (int i = 0; i + 1 < raw.Items!.Count; i += 2)
            {
                if (raw.Items[i] is { Kind: LvmConfigValueKind.String } n && raw.Items[i + 1] is { Kind: LvmConfigValueKind.Integer } p
                    && pvByName.TryGetValue(n.Text!, out LvmPhysicalVolume? pv) && p.Integer >= 0 && p.Integer < pv.ExtentCount)
                {
                    used.Add((pv, p.Integer, Math.Min(count, pv.ExtentCount - p.Integer), lv));
                }
            }
        }

        return new LvmSegment(start, count, type, 0, 0, []);
    }

    private static string Id(LvmConfigSection s, string where)
    {
        string text = Str(s, "id", where, optional: false)!;
        return LvmUuid.TryNormalize(text) ?? Throw<string>($"{where}: \"{text}\" is not an LVM id");
    }

    private static string? Str(LvmConfigSection s, string key, string where, bool optional)
    {
        LvmConfigValue? v = s.GetValue(key);
        if (v is null)
        {
            return optional ? null : Throw<string>($"{where} has no \"{key}\"");
        }

        return v.Kind == LvmConfigValueKind.String ? v.Text : Throw<string>($"{where}: \"{key}\" is not a string");
    }

    private static long Int(LvmConfigSection s, string key, string where, long min, long max, bool optional = false, long defaultValue = 0)
    {
        LvmConfigValue? v = s.GetValue(key);
        if (v is null)
        {
            return optional ? defaultValue : Throw<long>($"{where} has no \"{key}\"");
        }

        if (v.Kind != LvmConfigValueKind.Integer || v.Integer < min || v.Integer > max)
        {
            Throw($"{where}: \"{key}\" = {v} is not an integer in [{min}, {max}]");
        }

        return v.Integer;
    }

    private static List<string> Words(LvmConfigSection s, string key)
    {
        var words = new List<string>();
        LvmConfigValue? v = s.GetValue(key);
        if (v is null)
        {
            return words;
        }

        if (v.Kind != LvmConfigValueKind.Array)
        {
            Throw($"{s.Name}: \"{key}\" is not an array");
        }

        foreach (LvmConfigValue w in v.Items!)
        {
            if (w.Kind != LvmConfigValueKind.String)
            {
                Throw($"{s.Name}: \"{key}\" holds a value that is not a string");
            }

            words.Add(w.Text!);
        }

        return words;
    }

    [DoesNotReturn]
    private static void Throw(string message) => FormatError.Throw(Structure, -1, message);

    [DoesNotReturn]
    private static T Throw<T>(string message) => FormatError.Throw<T>(Structure, -1, message);
}
