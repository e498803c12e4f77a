using System.Globalization;
using System.Text;
using DiskImage.Guests;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>filesystems [-f fmt] [--uuid] [--human-readable] [--csv] image</c>: every file system, partition and device
/// of a guest disk, like <c>virt-filesystems --all --long</c>: columns Name, Type, VFS, Label, MBR, Size, Parent
/// (and UUID with <c>--uuid</c>); rows file systems, then logical volumes, volume groups, physical volumes,
/// partitions and the device.
/// </summary>
internal static class FilesystemsCommand
{
    private const int OptHelp = 1000;
    private const int OptUuid = 1001;
    private const int OptHuman = 1002;
    private const int OptCsv = 1003;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        bool uuid = false, human = false, csv = false;
        var getopt = new GetOpt(
            args,
            "f:h",
            new LongOption("help", false, OptHelp),
            new LongOption("uuid", false, OptUuid),
            new LongOption("human-readable", false, OptHuman),
            new LongOption("csv", false, OptCsv),
            new LongOption("all", false, 0),
            new LongOption("long", false, 0));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case OptUuid: uuid = true; break;
                case OptHuman: human = true; break;
                case OptCsv: csv = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting an image file name");
        }

        using GuestImage image = GuestImage.Open(getopt.Operands[0], format);
        List<string[]> rows = Rows(image.Guest, uuid, human);
        stdout.Write(csv ? Csv(rows) : Table(rows));
        return 0;
    }

    /// <summary>The header and the rows, in virt-filesystems' order.</summary>
    internal static List<string[]> Rows(Guest guest, bool uuid, bool human)
    {
        var rows = new List<string[]> { Row(uuid, "Name", "Type", "VFS", "Label", "MBR", "Size", "Parent", "UUID") };
        foreach (GuestVolume v in guest.Volumes)
        {
            if (v.FileSystemType != GuestFileSystemType.LvmPhysicalVolume)
            {
                rows.Add(Row(uuid, v.Name, "filesystem", v.FileSystemTypeName, v.Label ?? "-", "-", Size(GuestFileSystemSize.Of(v), human), "-", v.Uuid ?? "-"));
            }
        }

        foreach (GuestVolume v in guest.Volumes)
        {
            if (v.Kind == GuestVolumeKind.LogicalVolume)
            {
                rows.Add(Row(uuid, v.Name, "lv", "-", "-", "-", Size(v.Size, human), v.Parent ?? "-", v.LogicalVolumeUuid ?? "-"));
            }
        }

        foreach (GuestVolumeGroupInfo g in guest.VolumeGroups)
        {
            rows.Add(Row(uuid, g.Name, "vg", "-", "-", "-", Size(g.Size, human), string.Join(",", g.PhysicalVolumes), g.Uuid));
        }

        foreach (GuestVolume v in guest.Volumes)
        {
            if (v.FileSystemType == GuestFileSystemType.LvmPhysicalVolume)
            {
                rows.Add(Row(uuid, v.Name, "pv", "-", "-", "-", Size(v.Size, human), "-", v.Uuid ?? "-"));
            }
        }

        foreach (GuestVolume v in guest.Volumes)
        {
            if (v.Kind == GuestVolumeKind.Partition)
            {
                rows.Add(Row(uuid, v.Name, "partition", "-", "-", v.MbrType ?? "-", Size(v.Size, human), v.Parent ?? "-", "-"));
            }
        }

        rows.Add(Row(uuid, Guest.DiskName, "device", "-", "-", "-", Size(guest.Disk.Length, human), "-", "-"));
        return rows;
    }

    private static string[] Row(bool uuid, params string[] cells) => uuid ? cells : cells[..^1];

    private static string Table(List<string[]> rows)
    {
        int columns = rows[0].Length;
        int[] widths = new int[columns];
        foreach (string[] r in rows)
        {
            for (int i = 0; i < columns; i++)
            {
                widths[i] = Math.Max(widths[i], r[i].Length);
            }
        }

        var sb = new StringBuilder();
        foreach (string[] r in rows)
        {
            for (int i = 0; i < columns; i++)
            {
                sb.Append(r[i]);
                if (i < columns - 1)
                {
                    sb.Append(' ', widths[i] - r[i].Length + 1);
                }
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    private static string Csv(List<string[]> rows)
    {
        var sb = new StringBuilder();
        foreach (string[] r in rows)
        {
            for (int i = 0; i < r.Length; i++)
            {
                string cell = r[i];
                sb.Append(i == 0 ? string.Empty : ",");
                sb.Append(cell.AsSpan().IndexOfAny(",\"\n") >= 0 ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : cell);
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Bytes, or with <c>--human-readable</c> the gnulib style virt-filesystems -h prints (<c>1.0M</c>, <c>16M</c>).</summary>
    internal static string Size(long bytes, bool human)
    {
        if (!human)
        {
            return bytes.ToString(CultureInfo.InvariantCulture);
        }

        const string Units = "KMGTPE";
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        if (unit < 0)
        {
            return bytes.ToString(CultureInfo.InvariantCulture);
        }

        if (value < 10)
        {
            double tenths = Math.Ceiling(value * 10) / 10;
            if (tenths < 10)
            {
                return tenths.ToString("0.0", CultureInfo.InvariantCulture) + Units[unit];
            }
        }

        double whole = Math.Ceiling(value);
        if (whole >= 1024 && unit < Units.Length - 1)
        {
            return "1.0" + Units[unit + 1];
        }

        return whole.ToString("0", CultureInfo.InvariantCulture) + Units[unit];
    }
}
