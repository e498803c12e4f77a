using System.Globalization;
using System.Text;
using DiskImage.Formats;
using DiskImage.IO;

namespace DiskImage.Cli.Commands;

/// <summary>One line of <c>qemu-img map</c>: a range with qemu's block-status flags.</summary>
internal readonly record struct MapEntry(long Start, long Length, int Depth, bool Present, bool Zero, bool Data, long Offset)
{
    public bool HasOffset => Offset >= 0;

    public long End => Start + Length;

    /// <summary>Whether <paramref name="next"/> continues this entry (qemu merges such neighbours).</summary>
    public bool CanMerge(MapEntry next) =>
        next.Start == End && next.Depth == Depth && next.Present == Present && next.Zero == Zero && next.Data == Data &&
        next.HasOffset == HasOffset && (!HasOffset || Offset + Length == next.Offset);

    /// <summary>
    /// Translates an allocation extent into qemu's flags. For a raw image every range is present at
    /// its own offset (holes are zero); for qcow2, data is present, zero clusters are present and
    /// zero (preallocated ones also count as data), unallocated ranges are absent and read as zero.
    /// </summary>
    public static MapEntry From(AllocationExtent e, DiskImageFormat layerFormat)
    {
        if (layerFormat == DiskImageFormat.Raw)
        {
            bool data = e.Kind == AllocationKind.Data;
            return new(e.Offset, e.Length, e.Depth, true, !data, data, e.HostOffset >= 0 ? e.HostOffset : e.Offset);
        }

        return e.Kind switch
        {
            AllocationKind.Data => new(e.Offset, e.Length, e.Depth, true, false, true, e.HostOffset),
            // A zero cluster that keeps its host cluster (qemu's ZERO_ALLOC) is still not data.
            AllocationKind.Zero => new(e.Offset, e.Length, e.Depth, true, true, false, e.HostOffset),
            _ => new(e.Offset, e.Length, e.Depth, false, true, false, e.HostOffset),
        };
    }
}

/// <summary><c>map [-f fmt] [--output=human|json] [--start-offset=N] [--max-length=N] [-U] filename</c>.</summary>
internal static class MapCommand
{
    private const int OptOutput = 1000;
    private const int OptStartOffset = 1001;
    private const int OptMaxLength = 1002;
    private const int OptNoBacking = 1003;
    private const int OptForceShare = 1004;
    private const int OptHelp = 1005;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        bool json = false;
        bool followBacking = true;
        bool forceShare = false;
        long start = 0;
        long maxLength = long.MaxValue;
        var getopt = new GetOpt(
            args,
            "f:hU",
            new LongOption("output", true, OptOutput),
            new LongOption("start-offset", true, OptStartOffset),
            new LongOption("max-length", true, OptMaxLength),
            new LongOption("no-backing", false, OptNoBacking),
            new LongOption("force-share", false, OptForceShare),
            new LongOption("help", false, OptHelp));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'U' or OptForceShare: forceShare = true; break;
                case OptOutput: json = Cli.ParseOutputFormat(value!); break;
                case OptStartOffset:
                    if (!QemuSize.TryParse(value!, out start))
                    {
                        throw new CliException("Invalid start offset specified." + QemuSize.SuffixHint);
                    }

                    break;
                case OptMaxLength:
                    if (!QemuSize.TryParse(value!, out maxLength))
                    {
                        throw new CliException("Invalid length specified." + QemuSize.SuffixHint);
                    }

                    break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        string fileName = getopt.Operands[0];
        using DiskImageFile image = ImageOpener.Open(fileName, format, writable: false, followBacking, forceShare: forceShare);
        List<(DiskImageFile Image, string Name)> chain = ImageOpener.Chain(image, fileName);
        using var status = new BlockStatusReader(chain);
        BlockDevice content = image.Content;
        long end = start >= content.Length ? start : start + Math.Min(maxLength, content.Length - start);

        var output = new StringBuilder();
        if (json)
        {
            output.Append('[');
        }
        else
        {
            output.Append(CultureInfo.InvariantCulture, $"{"Offset",-16}{"Length",-16}{"Mapped to",-16}File\n");
        }

        bool first = true;
        MapEntry? pending = null;
        foreach (MapEntry entry in Entries(status, start, end))
        {
            if (pending is { } p && p.CanMerge(entry))
            {
                pending = p with { Length = p.Length + entry.Length };
                continue;
            }

            if (pending is { } done)
            {
                Emit(done);
            }

            pending = entry;
        }

        if (pending is { } last)
        {
            Emit(last);
        }
        else if (json)
        {
            // qemu-img reports an empty range as one absent entry of length 0.
            Emit(new MapEntry(start, 0, 0, false, false, false, -1));
        }

        if (json)
        {
            output.Append("]\n");
        }

        stdout.Write(output.ToString());
        return 0;

        // qemu-img names the file the data lives in: the external data file when the image has one.
        static string LayerFile(DiskImageFile layerImage, string name) =>
            layerImage.GetInfo().Qcow2?.DataFile is { } dataFile ? Path.Combine(Path.GetDirectoryName(name) ?? "", dataFile) : name;

        void Emit(MapEntry e)
        {
            if (json)
            {
                output.Append(first ? "" : ",\n");
                first = false;
                output.Append(CultureInfo.InvariantCulture, $"{{ \"start\": {e.Start}, \"length\": {e.Length}, \"depth\": {e.Depth}, \"present\": {Bool(e.Present)}, \"zero\": {Bool(e.Zero)}, \"data\": {Bool(e.Data)}");
                if (e.HasOffset)
                {
                    output.Append(CultureInfo.InvariantCulture, $", \"offset\": {e.Offset}");
                }

                output.Append('}');
                return;
            }

            if (e.Data && !e.HasOffset)
            {
                stdout.Write(output.ToString());
                throw new CliException("File contains external, encrypted or compressed clusters.");
            }

            if (e.Data && !e.Zero)
            {
                string layer = e.Depth < chain.Count ? LayerFile(chain[e.Depth].Image, chain[e.Depth].Name) : "";
                output.Append(CultureInfo.InvariantCulture, $"{Hex(e.Start),-16}{Hex(e.Length),-16}{Hex(e.Offset),-16}{layer}\n");
            }
        }
    }

    private static IEnumerable<MapEntry> Entries(BlockStatusReader status, long start, long end)
    {
        long position = start;
        while (position < end)
        {
            MapEntry entry = status.At(position, end - position);
            yield return entry;
            position = entry.End;
        }
    }

    private static string Bool(bool value) => value ? "true" : "false";

    /// <summary>printf's <c>%#x</c>: "0" for zero, otherwise "0x" and lower-case hex.</summary>
    internal static string Hex(long value) => value == 0 ? "0" : "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
