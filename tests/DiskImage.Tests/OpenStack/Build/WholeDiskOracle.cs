using System.Globalization;
using System.Text.Json;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// Reads a raw whole disk with the real tools only: the partition table with sfdisk (<c>--json</c>, <c>--verify</c>)
/// and sgdisk (<c>-v</c>), an LVM volume group through a read-only offset loop device over its partition with lvm
/// (<c>pvs</c>, <c>vgs</c>, <c>lvs</c>, <c>vgck</c>, activation off, the loop device always detached), and each
/// volume's bytes copied out by the offsets these tools report, for fsck and blkid.
/// </summary>
internal static class WholeDiskOracle
{
    private const string LvmScript = """
        set -eu
        DISK="$1"; OFF="$2"; SIZE="$3"; VG="$4"
        PV=$(losetup -f --show -r -o "$OFF" --sizelimit "$SIZE" "$DISK")
        trap 'losetup -d "$PV"' EXIT
        CFG="global{activation=0} devices{filter=[\"a|^$PV\$|\",\"r|.*|\"] global_filter=[\"a|^$PV\$|\",\"r|.*|\"] scan_lvs=0 use_devicesfile=0 obtain_device_list_from_udev=0} backup{backup=0 archive=0}"
        export LVM_SUPPRESS_FD_WARNINGS=1
        lvm vgck --config "$CFG" "$VG" 2>&1 | grep -v -e 'Activation disabled' -e 'WARNING: ' >&2 || true
        lvm vgck --config "$CFG" "$VG" >/dev/null 2>&1
        echo "PV $(lvm pvs --config "$CFG" --noheadings --units b --nosuffix -o pe_start,vg_name "$PV" 2>/dev/null | awk '{print $1, $2}')"
        echo "VG $(lvm vgs --config "$CFG" --noheadings --units b --nosuffix -o vg_extent_size,vg_extent_count,lv_count "$VG" 2>/dev/null | awk '{print $1, $2, $3}')"
        lvm lvs --config "$CFG" --noheadings --units b --nosuffix --separator ' ' -o lv_name,lv_size,seg_pe_ranges,lv_uuid "$VG" 2>/dev/null | sed 's/^ */LV /'
        """;

    /// <summary>One partition as <c>sfdisk --json</c> reports it.</summary>
    public sealed record PartitionInfo(int Number, long Offset, long Size, string Type, string? Name, string? Attributes);

    /// <summary>One logical volume as lvs and pvs report it: its byte range in the disk.</summary>
    public sealed record LogicalVolumeInfo(string Name, long Offset, long Size, string Uuid);

    public static void RequireTools()
    {
        foreach (string tool in new[] { "qemu-img", "sfdisk", "sgdisk", "lvm", "losetup", "xfs_repair", "e2fsck", "fsck.fat", "blkid", "bash" })
        {
            Oracle.Require(tool);
        }

        Skip.If(!Environment.IsPrivilegedProcess, "not root: lvm reads the volume group through a loop device");
        Skip.If(Oracle.Run("losetup", "-f").ExitCode != 0, "No free loop device.");
    }

    /// <summary>sfdisk --verify and sgdisk -v (GPT) judge the table; sfdisk --json lists the partitions.</summary>
    public static (string Label, List<PartitionInfo> Partitions) Partitions(string raw)
    {
        ToolResult verify = Oracle.Run("sfdisk", "--verify", raw);
        Assert.True(verify.ExitCode == 0 && verify.StandardOutput.Contains("No errors detected", StringComparison.Ordinal), verify.ToString());
        using JsonDocument json = JsonDocument.Parse(Oracle.RunOk("sfdisk", "--json", raw).StandardOutput);
        JsonElement table = json.RootElement.GetProperty("partitiontable");
        string label = table.GetProperty("label").GetString()!;
        int sectorSize = table.TryGetProperty("sectorsize", out JsonElement ss) ? ss.GetInt32() : 512;
        if (label == "gpt")
        {
            ToolResult sg = Oracle.Run("sgdisk", "-v", raw);
            Assert.True(sg.ExitCode == 0 && sg.StandardOutput.Contains("No problems found", StringComparison.Ordinal), sg.ToString());
        }

        var list = new List<PartitionInfo>();
        int n = 0;
        foreach (JsonElement p in table.GetProperty("partitions").EnumerateArray())
        {
            n++;
            list.Add(new PartitionInfo(n, p.GetProperty("start").GetInt64() * sectorSize, p.GetProperty("size").GetInt64() * sectorSize, p.GetProperty("type").GetString()!,
                p.TryGetProperty("name", out JsonElement name) ? name.GetString() : null,
                p.TryGetProperty("attrs", out JsonElement attrs) ? attrs.GetString() : p.TryGetProperty("bootable", out JsonElement boot) && boot.GetBoolean() ? "bootable" : null));
        }

        return (label, list);
    }

    /// <summary>The volume group on <paramref name="partition"/> as lvm reports it (vgck clean), and each LV's byte range in the disk.</summary>
    public static (string VolumeGroup, long ExtentCount, List<LogicalVolumeInfo> Volumes) VolumeGroup(string raw, PartitionInfo partition, string vgName)
    {
        ToolResult r = Oracle.Run("bash", ["-c", LvmScript.Replace("\r\n", "\n", StringComparison.Ordinal), "lvm-oracle", raw,
            partition.Offset.ToString(CultureInfo.InvariantCulture), partition.Size.ToString(CultureInfo.InvariantCulture), vgName], TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, "lvm over the partition: " + r);
        long peStart = 0, extentSize = 0, extents = 0;
        string vg = string.Empty;
        var lvs = new List<LogicalVolumeInfo>();
        foreach (string line in r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            switch (f[0])
            {
                case "PV":
                    peStart = long.Parse(f[1], CultureInfo.InvariantCulture);
                    vg = f[2];
                    break;
                case "VG":
                    extentSize = long.Parse(f[1], CultureInfo.InvariantCulture);
                    extents = long.Parse(f[2], CultureInfo.InvariantCulture);
                    break;
                case "LV":
                    // seg_pe_ranges: /dev/loopN:FIRST-LAST (one linear segment).
                    string range = f[3][(f[3].LastIndexOf(':') + 1)..];
                    Assert.DoesNotContain(" ", range, StringComparison.Ordinal);
                    long first = long.Parse(range.Split('-')[0], CultureInfo.InvariantCulture);
                    lvs.Add(new LogicalVolumeInfo(f[1], partition.Offset + peStart + (first * extentSize), long.Parse(f[2], CultureInfo.InvariantCulture), f[4]));
                    break;
            }
        }

        Assert.True(peStart > 0 && extentSize > 0, "pvs/vgs reported nothing: " + r);
        return (vg, extents, lvs);
    }

    /// <summary>Copies <paramref name="size"/> bytes at <paramref name="offset"/> of <paramref name="raw"/> into a new file.</summary>
    public static string Extract(string raw, long offset, long size, string path)
    {
        using FileStream source = File.OpenRead(raw);
        using FileStream target = File.Create(path);
        source.Position = offset;
        byte[] buffer = new byte[1 << 20];
        long left = size;
        while (left > 0)
        {
            int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            Assert.True(n > 0, "the disk ends inside a volume");
            if (Array.TrueForAll(buffer[..n], b => b == 0))
            {
                target.Seek(n, SeekOrigin.Current);
            }
            else
            {
                target.Write(buffer, 0, n);
            }

            left -= n;
        }

        target.SetLength(size);
        return path;
    }

    /// <summary>The file system's checker (xfs_repair -n, e2fsck -fn, fsck.fat -n) must find it clean; returns blkid's TYPE, LABEL and UUID.</summary>
    public static (string Type, string? Label, string Uuid) Check(string volume)
    {
        ToolResult blkid = Oracle.RunOk("blkid", "-p", "-o", "export", volume);
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in blkid.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            tags[line[..eq]] = line[(eq + 1)..];
        }

        string type = tags["TYPE"];
        ToolResult fsck = type switch
        {
            "xfs" => Oracle.Run("xfs_repair", "-n", "-f", volume),
            "ext4" => Oracle.Run("e2fsck", "-fn", volume),
            "vfat" => Oracle.Run("fsck.fat", "-n", volume),
            _ => throw new InvalidOperationException("unexpected file system " + type),
        };
        Assert.True(fsck.ExitCode == 0, $"{type} check: {fsck}");
        return (type, tags.GetValueOrDefault("LABEL"), tags["UUID"]);
    }
}
