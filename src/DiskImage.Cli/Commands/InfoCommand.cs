using System.Globalization;
using System.Text;
using DiskImage.Formats;
using DiskImage.Formats.Luks;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Cli.Commands;

/// <summary><c>info [-f fmt] [--output=human|json] [--backing-chain] [-U] [--no-backing] filename</c>.</summary>
internal static class InfoCommand
{
    private const int OptOutput = 1000;
    private const int OptBackingChain = 1001;
    private const int OptNoBacking = 1002;
    private const int OptForceShare = 1003;
    private const int OptHelp = 1004;

    public static int Run(string[] args, TextWriter stdout)
    {
        string? format = null;
        bool json = false;
        bool backingChain = false;
        bool followBacking = true;
        bool forceShare = false;
        var getopt = new GetOpt(
            args,
            "f:hU",
            new LongOption("output", true, OptOutput),
            new LongOption("backing-chain", false, OptBackingChain),
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
                case OptBackingChain: backingChain = true; break;
                case OptNoBacking: followBacking = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        string fileName = getopt.Operands[0];

        // Like qemu-img, each layer is opened on its own for its header (its backing file not opened):
        // a missing or unusable backing file does not stop the top image's report, and with
        // --backing-chain the error names the layer that cannot be opened.
        var infos = new List<(ImageInfo Info, string Name)>();
        var seen = new HashSet<string>(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        string? layerName = fileName;
        string? layerFormat = format;
        while (layerName is not null)
        {
            if (!seen.Add(Path.GetFullPath(layerName)))
            {
                throw new CliException($"Backing file '{layerName}' creates an infinite loop.");
            }

            ImageInfo info;
            // --no-backing keeps its meaning for info too: an image that names a backing file is refused.
            using (DiskImageFile layer = ImageOpener.Open(layerName, layerFormat, writable: false, followBacking: false, metadataOnly: followBacking, forceShare: forceShare))
            {
                info = layer.GetInfo();
            }

            infos.Add((info, layerName));
            if (!backingChain || !followBacking || info.BackingFileName is not { } backingName || infos.Count > 1024)
            {
                break;
            }

            layerName = ImageOpener.CombineBackingName(layerName, backingName);
            layerFormat = info.BackingFileFormat;
        }

        if (json)
        {
            if (backingChain)
            {
                var list = new List<object>(infos.Count);
                foreach ((ImageInfo info, string name) in infos)
                {
                    list.Add(ToJson(info, name));
                }

                stdout.Write(QemuJson.Format(list) + "\n");
            }
            else
            {
                stdout.Write(QemuJson.Format(ToJson(infos[0].Info, infos[0].Name)) + "\n");
            }
        }
        else
        {
            for (int i = 0; i < infos.Count; i++)
            {
                stdout.Write((i == 0 ? "" : "\n") + ToHuman(infos[i].Info, infos[i].Name));
            }
        }

        return 0;
    }

    /// <summary>The ImageInfo object of <c>qemu-img info --output=json</c>.</summary>
    internal static QemuJsonObject ToJson(ImageInfo info, string name)
    {
        var o = new QemuJsonObject()
            .Add("virtual-size", info.VirtualSize)
            .Add("filename", name);
        if (info.ClusterSize is { } clusterSize)
        {
            o.Add("cluster-size", (long)clusterSize);
        }

        o.Add("format", ImageOpener.FormatName(info.Format));
        if (info.ActualSize >= 0)
        {
            o.Add("actual-size", info.ActualSize);
        }

        if (info.Encrypted)
        {
            o.Add("encrypted", true);
        }

        if (info.Snapshots.Count > 0)
        {
            var snapshots = new List<object>(info.Snapshots.Count);
            foreach (Qcow2Snapshot snapshot in info.Snapshots)
            {
                snapshots.Add(SnapshotToJson(snapshot));
            }

            o.Add("snapshots", snapshots);
        }

        if (info.BackingFileName is { } backing)
        {
            o.Add("backing-filename", backing);
            o.Add("full-backing-filename", ImageOpener.CombineBackingName(name, backing));
        }

        if (info.BackingFileFormat is { } backingFormat)
        {
            o.Add("backing-filename-format", backingFormat);
        }

        if (info.Qcow2 is { } q)
        {
            o.Add("format-specific", new QemuJsonObject().Add("type", "qcow2").Add("data", Qcow2Data(q)));
        }
        else if (info.Luks is { } luks)
        {
            o.Add("format-specific", new QemuJsonObject().Add("type", "luks").Add("data", LuksData(luks, null)));
        }

        o.Add("dirty-flag", info.DirtyFlag);
        return o;
    }

    private static bool IsVersion3(Qcow2FormatInfo q) => q.Version == 3 || (q.Version == 0 && q.Compat != "0.10");

    private static QemuJsonObject Qcow2Data(Qcow2FormatInfo q)
    {
        var data = new QemuJsonObject()
            .Add("compat", q.Compat)
            .Add("compression-type", q.CompressionType == Qcow2CompressionType.Zstd ? "zstd" : "zlib");
        if (IsVersion3(q))
        {
            data.Add("lazy-refcounts", q.LazyRefcounts);
        }

        if (q.DataFile is { } dataFile)
        {
            data.Add("data-file", dataFile);
            if (q.DataFileRaw is { } raw)
            {
                data.Add("data-file-raw", raw);
            }
        }

        if (q.Bitmaps.Count > 0)
        {
            var bitmaps = new List<object>(q.Bitmaps.Count);
            foreach (Qcow2Bitmap b in q.Bitmaps)
            {
                var flags = new List<object>();
                if ((b.Flags & Qcow2BitmapFlags.InUse) != 0)
                {
                    flags.Add("in-use");
                }

                if ((b.Flags & Qcow2BitmapFlags.Auto) != 0)
                {
                    flags.Add("auto");
                }

                bitmaps.Add(new QemuJsonObject().Add("flags", flags).Add("name", b.Name).Add("granularity", b.Granularity));
            }

            data.Add("bitmaps", bitmaps);
        }

        data.Add("refcount-bits", (long)q.RefcountBits);
        if (q.EncryptionFormat is { } encryption)
        {
            data.Add("encrypt", q.Luks is { } luks ? LuksData(luks, encryption) : new QemuJsonObject().Add("format", encryption));
        }

        if (IsVersion3(q))
        {
            data.Add("corrupt", q.Corrupt);
            data.Add("extended-l2", q.ExtendedL2);
        }

        return data;
    }

    /// <summary>QCryptoBlockInfoLUKS in qemu-img 7.2's member order; qcow2's <c>encrypt</c> adds <c>format</c> after <c>uuid</c>.</summary>
    private static QemuJsonObject LuksData(LuksFormatInfo l, string? format)
    {
        var data = new QemuJsonObject()
            .Add("ivgen-alg", l.IvGenAlgorithm)
            .Add("hash-alg", l.HashAlgorithm)
            .Add("cipher-alg", l.CipherAlgorithm)
            .Add("uuid", l.Uuid);
        if (l.IvGenHashAlgorithm is { } ivgenHash)
        {
            data.Add("ivgen-hash-alg", ivgenHash);
        }

        if (format is not null)
        {
            data.Add("format", format);
        }

        data.Add("cipher-mode", l.CipherMode);
        var slots = new List<object>(l.Slots.Count);
        foreach (LuksKeySlotInfo s in l.Slots)
        {
            var slot = new QemuJsonObject().Add("active", s.Active);
            if (s.Iterations is { } iters)
            {
                slot.Add("iters", iters);
            }

            slot.Add("key-offset", s.KeyOffset);
            if (s.Stripes is { } stripes)
            {
                slot.Add("stripes", stripes);
            }

            slots.Add(slot);
        }

        return data.Add("slots", slots).Add("payload-offset", l.PayloadOffset).Add("master-key-iters", l.MasterKeyIterations);
    }

    private static QemuJsonObject SnapshotToJson(Qcow2Snapshot s)
    {
        var o = new QemuJsonObject()
            .Add("id", s.Id)
            .Add("name", s.Name)
            .Add("vm-state-size", s.VmStateSize)
            .Add("date-sec", s.DateSeconds)
            .Add("date-nsec", s.DateNanoseconds)
            .Add("vm-clock-sec", s.VmClockNanoseconds / 1_000_000_000)
            .Add("vm-clock-nsec", s.VmClockNanoseconds % 1_000_000_000);
        if (s.InstructionCount != -1)
        {
            o.Add("icount", s.InstructionCount);
        }

        return o;
    }

    /// <summary>The human-readable output of <c>qemu-img info</c>.</summary>
    internal static string ToHuman(ImageInfo info, string name)
    {
        var sb = new StringBuilder();
        sb.Append("image: ").Append(name).Append('\n');
        sb.Append("file format: ").Append(ImageOpener.FormatName(info.Format)).Append('\n');
        sb.Append(CultureInfo.InvariantCulture, $"virtual size: {QemuSize.ToHuman(info.VirtualSize)} ({info.VirtualSize} bytes)\n");
        sb.Append("disk size: ").Append(info.ActualSize >= 0 ? QemuSize.ToHuman(info.ActualSize) : "unavailable").Append('\n');
        if (info.Encrypted)
        {
            sb.Append("encrypted: yes\n");
        }

        if (info.ClusterSize is { } clusterSize)
        {
            sb.Append(CultureInfo.InvariantCulture, $"cluster_size: {clusterSize}\n");
        }

        if (info.DirtyFlag)
        {
            sb.Append("cleanly shut down: no\n");
        }

        if (info.BackingFileName is { } backing)
        {
            string full = ImageOpener.CombineBackingName(name, backing);
            sb.Append("backing file: ").Append(backing);
            if (full != backing)
            {
                sb.Append(" (actual path: ").Append(full).Append(')');
            }

            sb.Append('\n');
        }

        if (info.BackingFileFormat is { } backingFormat)
        {
            sb.Append("backing file format: ").Append(backingFormat).Append('\n');
        }

        if (info.Snapshots.Count > 0)
        {
            sb.Append("Snapshot list:\n");
            sb.Append(CultureInfo.InvariantCulture, $"{"ID",-10}{"TAG",-17}{"VM SIZE",8}{"DATE",20}{"VM CLOCK",13}{"ICOUNT",11}\n");
            foreach (Qcow2Snapshot s in info.Snapshots)
            {
                AppendSnapshotRow(sb, s);
            }
        }

        if (info.Qcow2 is { } q)
        {
            sb.Append("Format specific information:\n");
            AppendHumanMembers(sb, Qcow2Data(q), 1);
        }
        else if (info.Luks is { } luks)
        {
            sb.Append("Format specific information:\n");
            AppendHumanMembers(sb, LuksData(luks, null), 1);
        }

        return sb.ToString();
    }

    /// <summary>qemu-img's human dump of a QAPI object: "key: value", nested objects and lists indented by four, list items as "[i]:".</summary>
    private static void AppendHumanMembers(StringBuilder sb, QemuJsonObject o, int depth)
    {
        foreach (KeyValuePair<string, object> member in o.OrderedMembers())
        {
            AppendHumanValue(sb, member.Key.Replace('-', ' '), member.Value, depth);
        }
    }

    private static void AppendHumanValue(StringBuilder sb, string label, object value, int depth)
    {
        sb.Append(' ', depth * 4).Append(label).Append(':');
        switch (value)
        {
            case QemuJsonObject nested:
                sb.Append('\n');
                AppendHumanMembers(sb, nested, depth + 1);
                break;
            case List<object> list:
                sb.Append('\n');
                for (int i = 0; i < list.Count; i++)
                {
                    AppendHumanValue(sb, string.Create(CultureInfo.InvariantCulture, $"[{i}]"), list[i], depth + 1);
                }

                break;
            default:
                string text = value switch
                {
                    bool b => b ? "true" : "false",
                    long l => l.ToString(CultureInfo.InvariantCulture),
                    _ => value.ToString() ?? "",
                };
                sb.Append(' ').Append(text).Append('\n');
                break;
        }
    }

    internal static void AppendSnapshotRow(StringBuilder sb, Qcow2Snapshot s)
    {
        string date = DateTimeOffset.FromUnixTimeSeconds(s.DateSeconds).ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        long clockSeconds = s.VmClockNanoseconds / 1_000_000_000;
        long milliseconds = s.VmClockNanoseconds / 1_000_000 % 1000;
        string clock = string.Create(
            CultureInfo.InvariantCulture,
            $"{clockSeconds / 3600:00}:{clockSeconds / 60 % 60:00}:{clockSeconds % 60:00}.{milliseconds:000}");
        string icount = s.InstructionCount == -1 ? "" : s.InstructionCount.ToString(CultureInfo.InvariantCulture);
        sb.Append(CultureInfo.InvariantCulture, $"{s.Id,-9} {s.Name,-16} {QemuSize.ToHuman(s.VmStateSize),8}{date,20}{clock,13}{icount,11}\n");
    }
}
