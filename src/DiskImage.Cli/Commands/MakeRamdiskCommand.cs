using System.Globalization;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.Guests;

namespace DiskImage.Cli.Commands;

/// <summary>
/// <c>make-ramdisk [-f fmt] [--binary B]... [--module M]... [--kernel-version V] [--tree DIR]... [--init FILE | --init-guest PATH]
/// [--add HOST:DEST]... [--add-guest PATH:DEST]... [--compress c] [--level N] [--mtime SECONDS] [--no-base-layout] source -o file</c>:
/// assembles an initramfs from a guest (a disk image, inspected and mounted read-only, or a directory holding a root
/// tree) with <see cref="GuestRamdiskBuilder"/>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class MakeRamdiskCommand
{
    private const int OptHelp = 1000;
    private const int OptBinary = 1001;
    private const int OptModule = 1002;
    private const int OptKernelVersion = 1003;
    private const int OptTree = 1004;
    private const int OptInit = 1005;
    private const int OptInitGuest = 1006;
    private const int OptAdd = 1007;
    private const int OptAddGuest = 1008;
    private const int OptCompress = 1009;
    private const int OptLevel = 1010;
    private const int OptMtime = 1011;
    private const int OptNoBase = 1012;

    public static int Run(string[] args, TextWriter stdout, CancellationToken cancellationToken = default)
    {
        string? format = null;
        string? output = null;
        string? initFile = null;
        string? initGuest = null;
        string? kernelVersion = null;
        var binaries = new List<string>();
        var modules = new List<string>();
        var trees = new List<string>();
        var extras = new List<GuestRamdiskFile>();
        var compression = GuestRamdiskOptions.Default.Compression;
        int? level = null;
        DateTimeOffset? mtime = null;
        bool baseLayout = true;
        var getopt = new GetOpt(
            args,
            "f:ho:",
            new LongOption("help", false, OptHelp),
            new LongOption("output", true, 'o'),
            new LongOption("binary", true, OptBinary),
            new LongOption("module", true, OptModule),
            new LongOption("kernel-version", true, OptKernelVersion),
            new LongOption("tree", true, OptTree),
            new LongOption("init", true, OptInit),
            new LongOption("init-guest", true, OptInitGuest),
            new LongOption("add", true, OptAdd),
            new LongOption("add-guest", true, OptAddGuest),
            new LongOption("compress", true, OptCompress),
            new LongOption("level", true, OptLevel),
            new LongOption("mtime", true, OptMtime),
            new LongOption("no-base-layout", false, OptNoBase));
        while (getopt.Next(out int option, out string? value))
        {
            switch (option)
            {
                case 'f': format = value; break;
                case 'o': output = value; break;
                case OptBinary: binaries.Add(value!); break;
                case OptModule: modules.Add(value!); break;
                case OptKernelVersion: kernelVersion = value; break;
                case OptTree: trees.Add(value!); break;
                case OptInit: initFile = value; break;
                case OptInitGuest: initGuest = value; break;
                case OptAdd:
                {
                    (string src, string dest) = SplitMapping(value!, "--add");
                    extras.Add(GuestRamdiskFile.FromHost(src, dest));
                    break;
                }

                case OptAddGuest:
                {
                    (string src, string dest) = SplitMapping(value!, "--add-guest");
                    if (!src.StartsWith('/'))
                    {
                        throw CliException.Usage($"--add-guest '{value}': the guest path must be absolute");
                    }

                    extras.Add(GuestRamdiskFile.FromGuest(src, dest));
                    break;
                }

                case OptCompress: compression = MkInitramfsCommand.ParseCompression(value!); break;
                case OptLevel:
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int l))
                    {
                        throw CliException.Usage($"Invalid compression level '{value}'");
                    }

                    level = l;
                    break;
                case OptMtime:
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
                    {
                        throw CliException.Usage($"Invalid --mtime '{value}' (seconds since the epoch)");
                    }

                    mtime = DateTimeOffset.FromUnixTimeSeconds(seconds);
                    break;
                case OptNoBase: baseLayout = false; break;
                case 'h' or OptHelp: return Cli.PrintHelp(stdout);
            }
        }

        if (getopt.Operands.Count != 1)
        {
            throw CliException.Usage("Expecting one guest (a disk image or a directory) and -o file");
        }

        if (string.IsNullOrEmpty(output))
        {
            throw CliException.Usage("Expecting an output file name (-o file)");
        }

        if (initFile is not null && initGuest is not null)
        {
            throw CliException.Usage("Give --init or --init-guest, not both");
        }

        if (compression is InitramfsCompression.Xz or InitramfsCompression.Lzo)
        {
            throw new CliException($"{compression.ToString().ToLowerInvariant()} is read only: no encoder writes what the kernel accepts (use zstd, gzip, bzip2, lzma, lz4 or none)");
        }

        string? initScript = null;
        if (initFile is not null)
        {
            try
            {
                initScript = File.ReadAllText(initFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"Could not read '{initFile}': {e.Message}");
            }
        }

        foreach (GuestRamdiskFile extra in extras)
        {
            if (extra.Source == GuestRamdiskFileSource.Host && !File.Exists(extra.SourcePath) && !Directory.Exists(extra.SourcePath))
            {
                throw new CliException($"Could not open '{extra.SourcePath}': No such file or directory");
            }
        }

        var options = new GuestRamdiskOptions
        {
            Binaries = binaries,
            Modules = modules,
            KernelVersion = kernelVersion,
            Trees = trees,
            InitScript = initScript,
            InitGuestPath = initGuest,
            ExtraFiles = extras,
            Compression = compression,
            CompressionLevel = level,
            ModificationTime = mtime,
            BaseLayout = baseLayout,
        };

        string source = getopt.Operands[0];
        if (Directory.Exists(source))
        {
            using var guest = new HostDirectoryFileSystem(source);
            Write(guest, options, output, source, cancellationToken);
            return 0;
        }

        using GuestImage image = GuestImage.Open(source, format);
        IReadOnlyList<GuestOperatingSystem> systems = image.Guest.Inspect();
        if (systems.Count != 1)
        {
            throw new CliException(systems.Count == 0
                ? $"'{source}': no operating system found on the disk"
                : $"'{source}': {systems.Count} operating systems found; make-ramdisk needs exactly one");
        }

        Write(image.Guest.Mount(systems[0]), options, output, source, cancellationToken);
        return 0;
    }

    private static void Write(IFileSystem guest, GuestRamdiskOptions options, string output, string source, CancellationToken cancellationToken)
    {
        // A temporary name renamed at the end: a failure or an interrupt leaves no output (and an older file unchanged).
        string temp = output + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                GuestRamdiskBuilder.BuildAsync(guest, options, stream, cancellationToken).GetAwaiter().GetResult();
            }

            cancellationToken.ThrowIfCancellationRequested();
            File.Move(temp, output, overwrite: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException)
        {
            File.Delete(temp);
            throw new CliException($"'{source}': {e.Message}");
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static (string Source, string Destination) SplitMapping(string value, string option)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1 || value[colon + 1] != '/')
        {
            throw CliException.Usage($"{option} '{value}': expecting SOURCE:/ramdisk/path");
        }

        return (value[..colon], value[(colon + 1)..]);
    }
}
