using System.Globalization;
using DiskImage.Formats;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>part list|create|add|delete|resize</c>: MBR and GPT partition tables in raw and qcow2 images,
/// with sfdisk's placement (1 MiB alignment) and <c>sfdisk --json</c>'s output shape.
/// </summary>
internal static class PartCommand
{
    private const int OptHelp = 1000;
    private const int OptOutput = 1001;
    private const int OptSectorSize = 1002;
    private const int OptType = 1003;
    private const int OptSize = 1004;
    private const int OptName = 1005;
    private const int OptStart = 1006;
    private const int OptLogical = 1007;
    private const int OptBootable = 1008;
    private const int OptUuid = 1009;
    private const int OptShrink = 1010;
    private const int OptId = 1011;

    public static int Run(string[] args, TextWriter stdout)
    {
        if (args.Length == 0)
        {
            throw CliException.Usage("Expecting a part command: list, create, add, delete or resize");
        }

        string verb = args[0];
        if (verb is "-h" or "--help")
        {
            return Cli.PrintHelp(stdout);
        }

        var getopt = new GetOpt(
            args[1..],
            "f:hq",
            new LongOption("help", false, OptHelp),
            new LongOption("output", true, OptOutput),
            new LongOption("sector-size", true, OptSectorSize),
            new LongOption("type", true, OptType),
            new LongOption("size", true, OptSize),
            new LongOption("name", true, OptName),
            new LongOption("start", true, OptStart),
            new LongOption("logical", false, OptLogical),
            new LongOption("bootable", false, OptBootable),
            new LongOption("uuid", true, OptUuid),
            new LongOption("id", true, OptId),
            new LongOption("shrink", false, OptShrink));
        var o = new Options();
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': o.Format = value; break;
                case 'q': o.Quiet = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
                case OptOutput: o.Json = Cli.ParseOutputFormat(value!); break;
                case OptSectorSize:
                    o.SectorSize = value is "512" or "4096" ? int.Parse(value, CultureInfo.InvariantCulture) : throw new CliException("--sector-size must be 512 or 4096");
                    break;
                case OptType: o.Type = value; break;
                case OptSize: o.Size = ParseSize(value!); break;
                case OptName: o.Name = value; break;
                case OptStart:
                    o.Start = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long start) ? start : throw new CliException($"--start takes a sector number, not '{value}'");
                    break;
                case OptLogical: o.Logical = true; break;
                case OptBootable: o.Bootable = true; break;
                case OptUuid: o.Uuid = Guid.TryParse(value, out Guid uuid) ? uuid : throw new CliException($"--uuid takes a GUID, not '{value}'"); break;
                case OptId: o.Id = value; break;
                case OptShrink: o.Shrink = true; break;
            }
        }

        IReadOnlyList<string> operands = getopt.Operands;
        return verb switch
        {
            "list" => List(Operand(operands, 1, "part list <image>")[0], o, stdout),
            "create" => Create(Operand(operands, 1, "part create <image> --type gpt|mbr")[0], o, stdout),
            "add" => Add(Operand(operands, 1, "part add <image> [--size N] [--type T] [--name NAME]")[0], o, stdout),
            "delete" => Delete(Operand(operands, 2, "part delete <image> N"), o, stdout),
            "resize" => Resize(Operand(operands, 2, "part resize <image> N [--size N]"), o, stdout),
            _ => throw CliException.Usage($"Unknown part command '{verb}' (list, create, add, delete or resize)"),
        };
    }

    private static int List(string path, Options o, TextWriter stdout)
    {
        using DiskImageFile image = ImageOpener.Open(path, o.Format, writable: false, followBacking: true);
        PartitionTable table = OpenTable(image, path, o);
        stdout.Write(o.Json ? PartListFormatter.Json(table, path) : PartListFormatter.Human(table, path));
        return 0;
    }

    private static int Create(string path, Options o, TextWriter stdout)
    {
        using DiskImageFile image = ImageOpener.Open(path, o.Format, writable: true, followBacking: true);
        PartitionTable table;
        switch (o.Type)
        {
            case "gpt":
                Guid? diskGuid = o.Id is null ? null : Guid.TryParse(o.Id, out Guid g) ? g : throw new CliException($"--id takes the disk GUID for gpt, not '{o.Id}'");
                table = GptPartitionTable.Create(image.Content, new GptCreateOptions { SectorSize = o.SectorSize ?? 512, DiskGuid = diskGuid });
                break;
            case "mbr" or "dos":
                uint? signature = o.Id is null ? null
                    : uint.TryParse(o.Id.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? o.Id[2..] : o.Id, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint id) ? id
                    : throw new CliException($"--id takes the disk signature for mbr (hex, such as 0x12345678), not '{o.Id}'");
                table = MbrPartitionTable.Create(image.Content, new MbrCreateOptions { SectorSize = o.SectorSize ?? 512, DiskSignature = signature });
                break;
            default:
                throw new CliException("part create needs --type gpt or --type mbr");
        }

        image.Flush();
        Say(o, stdout, $"Created a {(table.Kind == PartitionTableKind.Gpt ? "gpt" : "dos")} partition table, disk identifier {table.Identifier}.");
        return 0;
    }

    private static int Add(string path, Options o, TextWriter stdout)
    {
        using DiskImageFile image = ImageOpener.Open(path, o.Format, writable: true, followBacking: true);
        PartitionTable table = OpenTable(image, path, o);
        Partition p = Change(() => table.Add(new PartitionAddOptions
        {
            Size = o.Size,
            FirstSector = o.Start,
            Type = o.Type ?? "linux",
            Name = o.Name,
            UniqueGuid = o.Uuid,
            Bootable = o.Bootable,
            Logical = o.Logical,
        }));
        image.Flush();
        Say(o, stdout, $"Created partition {p.Number}: start {p.FirstSector}, {p.SectorCount} sectors ({p.Length} bytes).");
        return 0;
    }

    private static int Delete(IReadOnlyList<string> operands, Options o, TextWriter stdout)
    {
        using DiskImageFile image = ImageOpener.Open(operands[0], o.Format, writable: true, followBacking: true);
        PartitionTable table = OpenTable(image, operands[0], o);
        int number = Number(table, operands[1]);
        Change(() =>
        {
            table.Delete(number);
            return 0;
        });
        image.Flush();
        Say(o, stdout, $"Deleted partition {number}.");
        return 0;
    }

    private static int Resize(IReadOnlyList<string> operands, Options o, TextWriter stdout)
    {
        using DiskImageFile image = ImageOpener.Open(operands[0], o.Format, writable: true, followBacking: true);
        PartitionTable table = OpenTable(image, operands[0], o);
        int number = Number(table, operands[1]);
        Partition p = Change(() => table.Resize(number, o.Size, o.Shrink));
        image.Flush();
        Say(o, stdout, $"Partition {p.Number}: start {p.FirstSector}, {p.SectorCount} sectors ({p.Length} bytes).");
        return 0;
    }

    private static PartitionTable OpenTable(DiskImageFile image, string path, Options o)
    {
        try
        {
            return PartitionTable.TryOpen(image.Content, o.SectorSize ?? 0) ?? throw new CliException($"'{path}': no partition table found (create one with 'part create --type gpt|mbr')");
        }
        catch (InvalidDataException e)
        {
            throw new CliException($"'{path}': {e.Message}");
        }
    }

    private static int Number(PartitionTable table, string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            throw new CliException($"'{text}' is not a partition number");
        }

        foreach (Partition p in table.Partitions)
        {
            if (p.Number == number)
            {
                return number;
            }
        }

        throw new CliException($"partition {number} does not exist");
    }

    private static T Change<T>(Func<T> change)
    {
        try
        {
            return change();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new CliException(ImageOpener.Describe(e));
        }
    }

    private static long ParseSize(string text)
    {
        if (!QemuSize.TryParse(text, out long size) || size <= 0)
        {
            throw new CliException($"--size takes a positive size in bytes (suffixes k, M, G, T), not '{text}'");
        }

        return size;
    }

    private static IReadOnlyList<string> Operand(IReadOnlyList<string> operands, int count, string usage) =>
        operands.Count == count ? operands : throw CliException.Usage($"Expecting: {Cli.ProgramName} {usage}");

    private static void Say(Options o, TextWriter stdout, string text)
    {
        if (!o.Quiet)
        {
            stdout.Write(text + "\n");
        }
    }

    private sealed class Options
    {
        public string? Format { get; set; }

        public bool Quiet { get; set; }

        public bool Json { get; set; }

        public int? SectorSize { get; set; }

        public string? Type { get; set; }

        public long? Size { get; set; }

        public string? Name { get; set; }

        public long? Start { get; set; }

        public bool Logical { get; set; }

        public bool Bootable { get; set; }

        public Guid? Uuid { get; set; }

        public string? Id { get; set; }

        public bool Shrink { get; set; }
    }
}
