using System.Globalization;
using System.Text;
using DiskImage.Conversion;
using DiskImage.Formats;
using DiskImage.Formats.Qcow2;

namespace DiskImage.Cli.Commands;

/// <summary><c>snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename</c>.</summary>
internal static class SnapshotCommand
{
    private const int OptHelp = 1000;
    private const int OptForceShare = 1001;

    public static int Run(string[] args, TextWriter stdout)
    {
        char action = '\0';
        string? name = null;
        bool forceShare = false;
        var getopt = new GetOpt(
            args,
            "la:c:d:hqU",
            new LongOption("help", false, OptHelp),
            new LongOption("force-share", false, OptForceShare));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'l' or 'a' or 'c' or 'd':
                    if (action != '\0')
                    {
                        throw CliException.Usage("Cannot mix '-l', '-a', '-c', '-d'");
                    }

                    action = (char)option;
                    name = value;
                    break;
                case 'q': break;
                case 'U' or OptForceShare: forceShare = true; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one image file name");
        }

        string fileName = getopt.Operands[0];
        bool writable = action != 'l';
        if (writable)
        {
            ImageOpener.RequireWriteLock(fileName, null);
            using DiskImageFile probe = ImageOpener.Open(fileName, null, writable: false, followBacking: true, forceShare: true);
            List<string> files = ImageFiles.Of(probe);
            if (files.Count > 1 && ImageFiles.FindAlias(fileName, files.GetRange(1, files.Count - 1)) is not null)
            {
                throw new CliException($"Could not open '{fileName}': {ImageOpener.SameFileMessage(fileName)}");
            }
        }

        using DiskImageFile image = ImageOpener.Open(fileName, null, writable, followBacking: true, forceShare: forceShare);
        Qcow2Image? qcow2 = image as Qcow2Image;
        switch (action)
        {
            case 'l':
                if (qcow2 is { Snapshots.Count: > 0 })
                {
                    var sb = new StringBuilder("Snapshot list:\n");
                    sb.Append(CultureInfo.InvariantCulture, $"{"ID",-10}{"TAG",-17}{"VM SIZE",8}{"DATE",20}{"VM CLOCK",13}{"ICOUNT",11}\n");
                    foreach (Qcow2Snapshot s in qcow2.Snapshots)
                    {
                        InfoCommand.AppendSnapshotRow(sb, s);
                    }

                    stdout.Write(sb.ToString());
                }

                break;
            case 'c':
                if (qcow2 is null)
                {
                    throw new CliException($"Could not create snapshot '{name}': -95 (Operation not supported)");
                }

                Run(() => qcow2.CreateSnapshot(name!, DateTimeOffset.UtcNow), $"Could not create snapshot '{name}'");
                break;
            case 'd':
                Qcow2Snapshot? victim = null;
                foreach (Qcow2Snapshot s in qcow2?.Snapshots ?? [])
                {
                    if (s.Name == name)
                    {
                        victim = s;
                        break;
                    }
                }

                if (victim is null)
                {
                    throw new CliException($"Could not delete snapshot '{name}': snapshot not found");
                }

                Run(() => qcow2!.DeleteSnapshot(victim), $"Could not delete snapshot '{name}'");
                break;
            case 'a':
                if (qcow2 is null)
                {
                    throw new CliException($"Could not apply snapshot '{name}': Block driver does not support snapshots");
                }

                Qcow2Snapshot? target = Find(qcow2, name!) ?? throw new CliException($"Could not apply snapshot '{name}': Failed to load snapshot: No such file or directory");
                Run(() => qcow2.ApplySnapshot(target), $"Could not apply snapshot '{name}'");
                break;
        }

        image.Flush();
        return 0;
    }

    /// <summary>By ID first, then by name (QEMU's <c>find_snapshot_by_id_or_name</c>).</summary>
    private static Qcow2Snapshot? Find(Qcow2Image image, string idOrName)
    {
        foreach (Qcow2Snapshot s in image.Snapshots)
        {
            if (s.Id == idOrName)
            {
                return s;
            }
        }

        foreach (Qcow2Snapshot s in image.Snapshots)
        {
            if (s.Name == idOrName)
            {
                return s;
            }
        }

        return null;
    }

    private static void Run(Action action, string what)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or IOException)
        {
            throw new CliException($"{what}: {e.Message}");
        }
    }
}
