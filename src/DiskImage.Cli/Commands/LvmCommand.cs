using System.Globalization;
using System.Text;
using System.Text.Json;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Lvm;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>lvm pvs|vgs|lvs [-f fmt] [--reportformat basic|json] image</c>: the LVM2 physical volumes, volume groups and
/// logical volumes of a whole disk, with the fields and values of <c>pvs</c>/<c>vgs</c>/<c>lvs --units b --nosuffix
/// -o ...</c> (PVs named as the guest names its volumes, <c>/dev/sda3</c>); <c>--reportformat json</c> prints lvm's
/// JSON report layout.
/// </summary>
internal static class LvmCommand
{
    private const int OptHelp = 1000;
    private const int OptReportFormat = 1001;

    private static readonly string[] PvFields = ["pv_name", "vg_name", "pv_fmt", "pv_uuid", "pv_size", "dev_size", "pv_free", "pe_start", "pv_pe_count", "pv_pe_alloc_count"];
    private static readonly string[] VgFields = ["vg_name", "vg_fmt", "vg_uuid", "pv_count", "lv_count", "vg_size", "vg_free", "vg_extent_size", "vg_extent_count", "vg_free_count", "vg_seqno"];
    private static readonly string[] LvFields = ["lv_name", "vg_name", "lv_uuid", "lv_size", "seg_count", "lv_path", "lv_dm_path"];

    public static int Run(string[] args, TextWriter stdout)
    {
        if (args.Length == 0 || args[0] is not ("pvs" or "vgs" or "lvs"))
        {
            if (args.Length > 0 && args[0] is "-h" or "--help")
            {
                return Cli.PrintHelp(stdout);
            }

            throw CliException.Usage("Expecting pvs, vgs or lvs after lvm");
        }

        string report = args[0];
        string? format = null;
        bool json = false;
        var getopt = new GetOpt(args[1..], "f:h", new LongOption("help", false, OptHelp), new LongOption("reportformat", true, OptReportFormat));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptReportFormat:
                    json = value switch
                    {
                        "json" => true,
                        "basic" => false,
                        _ => throw new CliException($"--reportformat {value}: expected basic or json"),
                    };
                    break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting an image file name");
        }

        string path = getopt.Operands[0];
        using GuestImage image = GuestImage.Open(path, format);
        var names = new Dictionary<BlockDevice, string>(ReferenceEqualityComparer.Instance);
        var devices = new List<BlockDevice>();
        foreach (GuestVolume v in image.Guest.Volumes)
        {
            if (v.FileSystemType == GuestFileSystemType.LvmPhysicalVolume)
            {
                names[v.Device] = v.Name;
                devices.Add(v.Device);
            }
        }

        IReadOnlyList<LvmVolumeGroup> groups;
        try
        {
            groups = LvmVolumeGroup.FindAll(devices);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            throw new CliException($"'{path}': {e.Message}");
        }

        (string Key, string[] Fields, List<string[]> Rows) table = report switch
        {
            "pvs" => ("pv", PvFields, PvRows(groups, names)),
            "vgs" => ("vg", VgFields, VgRows(groups)),
            _ => ("lv", LvFields, LvRows(groups)),
        };
        stdout.Write(json ? Json(table.Key, table.Fields, table.Rows) : Basic(table.Fields, table.Rows));
        return 0;
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static List<string[]> PvRows(IReadOnlyList<LvmVolumeGroup> groups, Dictionary<BlockDevice, string> names)
    {
        var rows = new List<string[]>();
        foreach (LvmVolumeGroup vg in groups)
        {
            foreach (LvmPhysicalVolume pv in vg.PhysicalVolumes)
            {
                long used = 0;
                foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
                {
                    foreach (LvmSegment seg in lv.Segments)
                    {
                        foreach (LvmStripe stripe in seg.Stripes)
                        {
                            if (ReferenceEquals(stripe.PhysicalVolume, pv))
                            {
                                used += seg.ExtentCount / Math.Max(1, seg.Stripes.Count);
                            }
                        }
                    }
                }

                string name = pv.Device is { } d && names.TryGetValue(d, out string? n) ? n : "[unknown]";
                rows.Add([name, vg.Name, "lvm2", pv.Uuid, N(pv.ExtentCount * vg.ExtentSize), N(pv.Device?.Length ?? 0), N((pv.ExtentCount - used) * vg.ExtentSize), N(pv.DataOffset), N(pv.ExtentCount), N(used)]);
            }
        }

        rows.Sort(static (a, b) => string.CompareOrdinal(a[0], b[0]));
        return rows;
    }

    private static List<string[]> VgRows(IReadOnlyList<LvmVolumeGroup> groups)
    {
        var rows = new List<string[]>();
        foreach (LvmVolumeGroup vg in groups)
        {
            long extents = 0;
            foreach (LvmPhysicalVolume pv in vg.PhysicalVolumes)
            {
                extents += pv.ExtentCount;
            }

            int visible = 0;
            foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
            {
                visible += lv.IsVisible ? 1 : 0;
            }

            long free = vg.FreeExtentCount;
            rows.Add([vg.Name, "lvm2", vg.Uuid, N(vg.PhysicalVolumes.Count), N(visible), N(extents * vg.ExtentSize), N(free * vg.ExtentSize), N(vg.ExtentSize), N(extents), N(free), N(vg.SequenceNumber)]);
        }

        rows.Sort(static (a, b) => string.CompareOrdinal(a[0], b[0]));
        return rows;
    }

    private static List<string[]> LvRows(IReadOnlyList<LvmVolumeGroup> groups)
    {
        var rows = new List<string[]>();
        foreach (LvmVolumeGroup vg in groups)
        {
            foreach (LvmLogicalVolume lv in vg.LogicalVolumes)
            {
                if (lv.IsVisible)
                {
                    rows.Add([lv.Name, vg.Name, lv.Uuid, N(lv.Size), N(lv.Segments.Count), lv.DevicePath, lv.MapperPath]);
                }
            }
        }

        // lvs sorts by VG, then LV name.
        rows.Sort(static (a, b) => string.CompareOrdinal(a[1], b[1]) is var c && c != 0 ? c : string.CompareOrdinal(a[0], b[0]));
        return rows;
    }

    /// <summary>lvm's JSON report: <c>{"report": [{"lv": [{...}, ...]}]}</c> in its indentation, every value a string.</summary>
    private static string Json(string key, string[] fields, List<string[]> rows)
    {
        var s = new StringBuilder();
        s.Append("  {\n      \"report\": [\n          {\n              \"").Append(key).Append("\": [\n");
        for (int r = 0; r < rows.Count; r++)
        {
            s.Append("                  {");
            for (int f = 0; f < fields.Length; f++)
            {
                s.Append(f == 0 ? "\"" : ", \"").Append(fields[f]).Append("\":\"").Append(JsonEncodedText.Encode(rows[r][f]).ToString()).Append('"');
            }

            s.Append(r + 1 < rows.Count ? "},\n" : "}\n");
        }

        s.Append("              ]\n          }\n      ]\n  }\n");
        return s.ToString();
    }

    /// <summary>A column table with the field names as headings (left-aligned, two spaces apart).</summary>
    private static string Basic(string[] fields, List<string[]> rows)
    {
        int[] widths = new int[fields.Length];
        for (int f = 0; f < fields.Length; f++)
        {
            widths[f] = fields[f].Length;
            foreach (string[] row in rows)
            {
                widths[f] = Math.Max(widths[f], row[f].Length);
            }
        }

        var s = new StringBuilder();
        void Line(string[] cells)
        {
            s.Append(' ');
            for (int f = 0; f < cells.Length; f++)
            {
                s.Append(' ').Append(f + 1 < cells.Length ? cells[f].PadRight(widths[f]) : cells[f]);
            }

            s.Append('\n');
        }

        Line(fields);
        foreach (string[] row in rows)
        {
            Line(row);
        }

        return s.ToString();
    }
}
