using System.Globalization;
using System.Text;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;

namespace DiskImage.Cli.Commands;

/// <summary><c>part list</c> output: a table for people, or JSON shaped like <c>sfdisk --json</c> (same keys and values).</summary>
internal static class PartListFormatter
{
    /// <summary>The JSON object <c>sfdisk --json</c> prints for the same table; <paramref name="device"/> is the image name as given.</summary>
    public static string Json(PartitionTable table, string device)
    {
        var s = new StringBuilder();
        s.Append("{\n   \"partitiontable\": {\n");
        Field(s, 6, "label", table.Kind == PartitionTableKind.Gpt ? "gpt" : "dos");
        Field(s, 6, "id", table.Identifier);
        Field(s, 6, "device", device);
        Field(s, 6, "unit", "sectors");
        if (table.Kind == PartitionTableKind.Gpt)
        {
            Number(s, 6, "firstlba", table.FirstUsableSector);
            Number(s, 6, "lastlba", table.LastUsableSector);
        }

        Number(s, 6, "sectorsize", table.SectorSize);
        if (table.Partitions.Count == 0)
        {
            // sfdisk leaves the key out when there is no partition.
            s.Length -= 2;
            s.Append("\n   }\n}\n");
            return s.ToString();
        }

        s.Append("      \"partitions\": [");
        for (int i = 0; i < table.Partitions.Count; i++)
        {
            Partition p = table.Partitions[i];
            s.Append(i == 0 ? "\n         {\n" : "},{\n");
            var fields = new List<string>
            {
                $"\"node\": {Quote(Node(device, p.Number))}",
                $"\"start\": {p.FirstSector.ToString(CultureInfo.InvariantCulture)}",
                $"\"size\": {p.SectorCount.ToString(CultureInfo.InvariantCulture)}",
                $"\"type\": {Quote(p.TypeName)}",
            };
            if (p is GptPartition g)
            {
                fields.Add($"\"uuid\": {Quote(g.UniqueGuid.ToString("D").ToUpperInvariant())}");
                if (g.Name.Length > 0)
                {
                    fields.Add($"\"name\": {Quote(g.Name)}");
                }

                if (g.AttributeText is { } attrs)
                {
                    fields.Add($"\"attrs\": {Quote(attrs)}");
                }
            }
            else if (p is MbrPartition { Bootable: true })
            {
                fields.Add("\"bootable\": true");
            }

            s.Append("            ").Append(string.Join(",\n            ", fields)).Append("\n         ");
        }

        s.Append("}\n      ]\n");
        s.Append("   }\n}\n");
        return s.ToString();
    }

    /// <summary>A table like <c>sgdisk -p</c> / <c>sfdisk -l</c>.</summary>
    public static string Human(PartitionTable table, string device)
    {
        var s = new StringBuilder();
        long bytes = table.Disk.Length;
        s.Append(CultureInfo.InvariantCulture, $"Disk {device}: {bytes} bytes, {table.DiskSectors} sectors\n");
        s.Append(CultureInfo.InvariantCulture, $"Sector size: {table.SectorSize} bytes\n");
        s.Append(CultureInfo.InvariantCulture, $"Disklabel type: {(table.Kind == PartitionTableKind.Gpt ? "gpt" : "dos")}\n");
        s.Append(CultureInfo.InvariantCulture, $"Disk identifier: {table.Identifier}\n");
        if (table is GptPartitionTable gpt)
        {
            s.Append(CultureInfo.InvariantCulture, $"First usable sector: {gpt.FirstUsableSector}, last usable sector: {gpt.LastUsableSector}\n");
            s.Append(CultureInfo.InvariantCulture, $"Partition entries: {gpt.EntryCount} of {gpt.EntrySize} bytes\n");
            if (gpt.OpenedFromBackup)
            {
                s.Append("Warning: the primary GPT is damaged; the backup was read (the next change rewrites the primary).\n");
            }

            if (gpt.BackupNeedsRelocation)
            {
                s.Append("Note: the backup GPT is not at the end of the disk (the disk grew); the next change moves it.\n");
            }
        }

        s.Append('\n');
        s.Append(CultureInfo.InvariantCulture, $"{"Number",-7} {"Start",12} {"End",12} {"Sectors",12} {"Size",10}  {"Type",-22} Name\n");
        foreach (Partition p in table.Partitions)
        {
            string type = p.TypeDescription ?? p.TypeName;
            string name = p switch
            {
                GptPartition g => g.Name,
                MbrPartition { Bootable: true } => "*",
                _ => string.Empty,
            };
            string line = string.Format(CultureInfo.InvariantCulture, "{0,-7} {1,12} {2,12} {3,12} {4,10}  {5,-22} {6}", p.Number, p.FirstSector, p.LastSector, p.SectorCount, HumanSize(p.Length), type, name);
            s.Append(line.TrimEnd()).Append('\n');
        }

        return s.ToString();
    }

    /// <summary>The partition's device name as sfdisk prints it (<c>disk.img3</c>, <c>disk0p3</c>).</summary>
    public static string Node(string device, int number) =>
        device.Length > 0 && char.IsAsciiDigit(device[^1]) ? $"{device}p{number}" : $"{device}{number}";

    private static string HumanSize(long bytes)
    {
        string[] units = ["B", "K", "M", "G", "T", "P"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes}B" : value.ToString(value < 10 ? "0.#" : "0", CultureInfo.InvariantCulture) + units[unit];
    }

    private static string Quote(string value)
    {
        var sb = new StringBuilder();
        QemuJson.WriteString(sb, value);
        return sb.ToString();
    }

    private static void Field(StringBuilder s, int indent, string name, string value) =>
        s.Append(' ', indent).Append('"').Append(name).Append("\": ").Append(Quote(value)).Append(",\n");

    private static void Number(StringBuilder s, int indent, string name, long value) =>
        s.Append(' ', indent).Append('"').Append(name).Append("\": ").Append(value.ToString(CultureInfo.InvariantCulture)).Append(",\n");
}
