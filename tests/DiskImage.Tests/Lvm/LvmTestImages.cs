using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json.Nodes;
using DiskImage.IO;
using DiskImage.Lvm;

namespace DiskImage.Tests.Lvm;

/// <summary>Images for the LVM tests: every 8-byte word of a patterned image says which image and which offset it is.</summary>
internal static class LvmTestImages
{
    /// <summary>The word a patterned image holds at <paramref name="offset"/> (8-aligned).</summary>
    public static ulong Word(int image, long offset) => ((ulong)(image + 1) << 48) | (ulong)offset;

    /// <summary>A new image of <paramref name="size"/> bytes whose words are <see cref="Word"/>.</summary>
    public static string Patterned(TempDirectory tmp, string name, long size, int image)
    {
        string path = tmp.File(name);
        byte[] chunk = new byte[1 << 20];
        using FileStream f = File.Create(path);
        for (long at = 0; at < size; at += chunk.Length)
        {
            for (int i = 0; i < chunk.Length; i += 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(chunk.AsSpan(i), Word(image, at + i));
            }

            f.Write(chunk);
        }

        return path;
    }

    /// <summary>A new sparse image.</summary>
    public static string Sparse(TempDirectory tmp, string name, long size)
    {
        string path = tmp.File(name);
        using FileStream f = File.Create(path);
        f.SetLength(size);
        return path;
    }

    /// <summary>
    /// Asserts that each LV of <paramref name="vg"/> maps, byte for byte, where <c>lvs --segments</c> says
    /// (linear: the PV's extent; striped: dm-stripe's chunk rotation), reading patterned PV images.
    /// </summary>
    public static void AssertBytesMatchReport(LvmVolumeGroup vg, LvmOracle lvm, string vgName)
    {
        var devIndex = new Dictionary<string, int>();
        for (int i = 0; i < lvm.Devices.Count; i++)
        {
            devIndex[lvm.Devices[i]] = i;
        }

        var peStart = new Dictionary<int, long>();
        foreach (JsonNode? pv in lvm.Report("pvs", "pv_name,pe_start"))
        {
            peStart[devIndex[(string)pv!["pv_name"]!]] = Num(pv["pe_start"]);
        }

        long extent = Num(lvm.Report("vgs", "vg_extent_size", vgName)[0]!["vg_extent_size"]);
        Assert.Equal(extent, vg.ExtentSize);
        byte[] buffer = new byte[1 << 20];
        foreach (JsonNode? seg in lvm.Report("lvs", "lv_name,seg_start,seg_size,stripes,stripe_size,devices", "--segments", vgName))
        {
            LvmLogicalVolume lv = vg.GetLogicalVolume((string)seg!["lv_name"]!)!;
            long start = Num(seg["seg_start"]);
            long size = Num(seg["seg_size"]);
            int stripes = (int)Num(seg["stripes"]);
            long stripeSize = Num(seg["stripe_size"]);
            var areas = new List<(int Dev, long Pe)>();
            foreach (string d in ((string)seg["devices"]!).Split(','))
            {
                int paren = d.IndexOf('(', StringComparison.Ordinal);
                areas.Add((devIndex[d[..paren]], long.Parse(d[(paren + 1)..^1], CultureInfo.InvariantCulture)));
            }

            using BlockDevice device = lv.Open(writable: false);
            for (long rel = 0; rel < size; rel += buffer.Length)
            {
                int n = (int)Math.Min(buffer.Length, size - rel);
                device.ReadExactly(start + rel, buffer.AsSpan(0, n));
                for (int i = 0; i < n; i += 8)
                {
                    long s = rel + i;
                    int dev;
                    long at;
                    if (stripes == 1)
                    {
                        dev = areas[0].Dev;
                        at = peStart[dev] + (areas[0].Pe * extent) + s;
                    }
                    else
                    {
                        long chunk = s / stripeSize;
                        int stripe = (int)(chunk % stripes);
                        dev = areas[stripe].Dev;
                        at = peStart[dev] + (areas[stripe].Pe * extent) + ((chunk / stripes) * stripeSize) + (s % stripeSize);
                    }

                    ulong actual = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(i));
                    if (actual != Word(dev, at))
                    {
                        Assert.Fail($"{lv.Name} byte {start + s}: read word 0x{actual:x16}, lvs maps it to device {dev} offset {at} (0x{Word(dev, at):x16}).");
                    }
                }
            }
        }
    }

    /// <summary>Asserts that our model lists the same LVs and segments as <c>lvs --segments</c> and the same VG as <c>vgs</c>.</summary>
    public static void AssertSameAsReports(LvmVolumeGroup vg, LvmOracle lvm, string vgName, IReadOnlyList<BlockDevice> blockDevices)
    {
        JsonNode v = lvm.Report("vgs", "vg_name,vg_uuid,vg_extent_size,pv_count,lv_count,vg_seqno,vg_free_count", vgName)[0]!;
        Assert.Equal((string)v["vg_name"]!, vg.Name);
        Assert.Equal((string)v["vg_uuid"]!, vg.Uuid);
        Assert.Equal(Num(v["vg_extent_size"]), vg.ExtentSize);
        Assert.Equal(Num(v["pv_count"]), vg.PhysicalVolumes.Count);
        Assert.Equal(Num(v["lv_count"]), vg.LogicalVolumes.Count);
        Assert.Equal(Num(v["vg_seqno"]), vg.SequenceNumber);
        Assert.Equal(Num(v["vg_free_count"]), vg.FreeExtentCount);
        var expected = new List<string>();
        foreach (JsonNode? seg in lvm.Report("lvs", "lv_name,lv_uuid,lv_size,seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,devices", "--segments", vgName))
        {
            string devices = (string)seg!["devices"]!;
            for (int i = 0; i < lvm.Devices.Count; i++)
            {
                devices = devices.Replace(lvm.Devices[i] + "(", $"pv{i}(", StringComparison.Ordinal);
            }

            expected.Add($"{seg["lv_name"]} {seg["lv_uuid"]} {seg["lv_size"]} {seg["seg_start_pe"]}+{seg["seg_size_pe"]} {seg["segtype"]} {seg["stripes"]} {seg["stripe_size"]} {devices}");
        }

        var actual = new List<string>();
        foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
        {
            foreach (LvmSegment s in lv.Segments)
            {
                string type = s.Type == "striped" && s.StripeCount == 1 ? "linear" : s.Type;
                string devices = string.Join(',', s.Stripes.Select(st => $"pv{IndexOf(blockDevices, st.PhysicalVolume.Device!)}({st.StartExtent})"));
                actual.Add($"{lv.Name} {lv.Uuid} {lv.Size} {s.StartExtent}+{s.ExtentCount} {type} {s.StripeCount} {s.StripeSize} {devices}");
            }
        }

        expected.Sort(StringComparer.Ordinal);
        actual.Sort(StringComparer.Ordinal);
        Assert.Equal(expected, actual);
    }

    private static int IndexOf(IReadOnlyList<BlockDevice> devices, BlockDevice device)
    {
        for (int i = 0; i < devices.Count; i++)
        {
            if (ReferenceEquals(devices[i], device))
            {
                return i;
            }
        }

        return -1;
    }

    public static long Num(JsonNode? node) => long.Parse((string)node!, CultureInfo.InvariantCulture);
}
