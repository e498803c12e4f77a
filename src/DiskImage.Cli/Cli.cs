using System.Reflection;
using DiskImage.Cli.Commands;

namespace DiskImage.Cli;

/// <summary>
/// The <c>diskimage</c> command line: qemu-img's verbs and flags, so a script can switch by changing
/// the program name. Output, messages and exit codes follow qemu-img 7.2.
/// </summary>
internal static class Cli
{
    public const string ProgramName = "diskimage";

    /// <summary>Exit code after Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    private const string Usage = """
        usage: diskimage [-h | --help] [-V | --version] command [command options]
        Disk image utility: qemu-img's commands and flags, implemented in managed code.

        Command syntax:
          check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] [--no-backing] filename
          compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] [--no-backing] filename1 filename2
          convert [-c] [-p] [-q] [-n] [--target-is-zero] [-U] [-W] [-f fmt] [-O output_fmt] [-o options] [-B backing_file [-F backing_fmt]] [-l snapshot_param] [-S sparse_size] [-m num] [--salvage] [--bitmaps [--skip-broken-bitmaps]] [--no-backing] filename [filename2 [...]] output_filename
          create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
          info [-f fmt] [--output=ofmt] [--backing-chain] [-U] [--no-backing] filename
          measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] [-U] [--no-backing] filename]
          map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] [--no-backing] filename
          resize [-f fmt] [-q] [--shrink] [--no-backing] filename [+ | -]size
          commit [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename
          rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename
          snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename
          amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename
          bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap
          dd [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output
          mkinitramfs directory -o output_file [--compress zstd|gzip|bzip2|lzma|lz4|none] [--level N] [--early directory] [--reproducible] [--root-owner] [--format newc|crc]
          lsinitramfs [-l] initramfs_file
          unpack-initramfs initramfs_file directory
          make-ramdisk [-f fmt] [--binary B]... [--module M]... [--kernel-version V] [--tree DIR]... [--init FILE | --init-guest PATH] [--add HOST:DEST]... [--add-guest PATH:DEST]... [--compress C] [--level N] [--mtime SECONDS] [--no-base-layout] filename|directory -o output_file
          mkfs [-f fmt] [--size N] [-L label] [-U uuid] [-b blocksize] [-I inodesize] [-i bytes-per-inode] [-m percent] [-T profile] [-O ^has_journal] [-E hash_seed=uuid] ext4|xfs filename
          make-fs [-t ext4|xfs] [-f fmt] [-s N | +N] [--label label] [-T profile] [mkfs options] directory filename
          ls [-l] [-R] [-f fmt] [--skip-journal] [--partition N | -m dev[:mountpoint]...] filename [path...]
          cat [-f fmt] [--skip-journal] [--partition N | -m dev[:mountpoint]...] filename path...
          copy-out [-f fmt] [--skip-journal] [--partition N | -m dev[:mountpoint]...] filename path... local_directory
          copy-in [-f fmt] [--xattrs] [--partition N | -m dev[:mountpoint]...] filename local_path... directory
          inspect [-f fmt] [--output=human|json|xml] filename
          filesystems [-f fmt] [--uuid] [--human-readable] [--csv] filename
          get-kernel [-f fmt] [--unversioned-names] [--prefix P] filename -o directory
          extract-fs [-f fmt] [-O output_fmt] [-c] filename {device | --partition N} output_filename
          lvm pvs|vgs|lvs [-f fmt] [--reportformat basic|json] filename
          customize [-a] filename [-f fmt] [-n] [-q] [-x] [--commands-from-file file] [virt-customize options]
          sysprep [-q] [-f fmt] [--operations ops] [--enable ops] [--machine-id empty|uninitialized|keep] [--dry-run] [--list-operations] [-a] filename [virt-customize options]
          part list [-f fmt] [--sector-size 512|4096] [--output=ofmt] filename
          part create [-f fmt] --type gpt|mbr [--sector-size 512|4096] [--id guid|0xsignature] filename
          part add [-f fmt] [--size N] [--start sector] [--type T] [--name name] [--uuid guid] [--logical] [--bootable] filename
          part delete [-f fmt] filename N
          part resize [-f fmt] [--size N] [--shrink] filename N
          overcloud build [--all | NAME...] [--base IMG | --base-tree DIR | --save-base FILE] [--recipe FILE] [-o DIR] [--force] [--tmpdir DIR] [--print-default-recipe] [--output=ofmt]
          overcloud upload [-o image_path] [--os-image-name name] [--http-boot dir] [--update-existing] [--whole-disk] [--architecture arch] [--platform p] [--image-type os|ironic-python-agent] [--os-cloud name] [--output=ofmt]

        Command parameters:
          'filename' is a disk image filename
          'fmt' is the disk image format (qcow2 or raw); it is detected from the content when omitted
          'size' is a size in bytes; the suffixes k or K (kilobyte, 1024), M (megabyte), G, T, P and E
            are supported, 'b' is ignored
          'output_filename' is the destination image filename
          'output_fmt' is the destination format (default raw)
          'options' is a comma-separated list of format-specific options in name=value form; a
            literal comma is written ',,'; use '-o help' for the list of a format
          '-c' writes compressed clusters (qcow2 targets)
          '-p' shows progress
          '-q' is quiet mode: only errors are printed
          '-n' writes into an existing target instead of creating it; '--target-is-zero' skips writing zeros
          '-l' selects an internal snapshot of the source: 'snapshot.id=ID', 'snapshot.name=NAME' or an ID or name
          '-S' sets the run of zero bytes that is left unallocated in the target (default 4k, 0 = none)
          '-m' sets the number of worker threads used for compression (1 to 16)
          '--output' takes 'human' (default) or 'json'
          '--no-backing' does not open backing files (by default they are followed, as qemu-img does)

        Initramfs commands (cpio archives as the Linux kernel reads them):
          'mkinitramfs' packs a directory into a cpio archive compressed with '--compress' (default zstd;
            xz and lzo are read but not written); '--early' puts a directory (CPU microcode) first,
            uncompressed; '--reproducible' gives byte-identical output for the same tree (times clamped
            to SOURCE_DATE_EPOCH or 0); '--root-owner' makes every entry owned by root:root
          'lsinitramfs' lists every segment's paths, one per line ('-l': long listing like cpio -tv)
          'unpack-initramfs' extracts every segment under the directory, never writing outside it
          'make-ramdisk' assembles an initramfs from a guest (disk image or root directory): '--binary'
            programs with their ELF interpreter and shared libraries resolved in the guest, '--module'
            kernel modules with their dependencies (modules.dep), '--tree' whole guest directories,
            '--init' a host script (or '--init-guest' a guest file) as /init, '--add'/'--add-guest'
            extra files; every entry root-owned with one time ('--mtime', else SOURCE_DATE_EPOCH or 0);
            default gzip

        File-system commands (an image, raw or qcow2, holding a bare ext4, XFS or FAT file system, or a
        whole disk with an MBR or GPT partition table; paths in the image are absolute):
          'mkfs' writes an empty ext4 file system over the image; '--size' creates the image first
            (format '-f', default raw); '-T' picks the feature profile: debian12 (default, also rhel8
            and rhel9) or rhel7; SOURCE_DATE_EPOCH fixes the time written; 'mkfs xfs' takes mkfs.xfs
            spellings (-b size=N, -i size=N, -d agcount=N, -l size=N blocks, -m uuid=U, -L, -T
            debian12|rhel9|rhel8|rhel7)
          'make-fs' builds a new image holding a copy of a local directory tree (like virt-make-fs);
            the size is the smallest that fits plus 10% unless '-s' gives it ('+N' adds N bytes)
          'ls' lists a directory like virt-ls ('-l': mode, links, uid, gid, size, UTC time, name;
            '-R': everything below, as full paths)
          'cat' writes files to standard output
          'copy-out' copies files and directories (recursively) into an existing local directory,
            keeping modes, times, links (and owners as root); nothing is written outside it
          '--skip-journal' reads a file system whose journal needs recovery as it is
          '--partition N' picks partition N (or a device name: /dev/sda2, /dev/VG/LV) of a whole disk;
            without it a whole disk is seen as its operating system sees it (root and /etc/fstab mounts)
          '-m dev[:mountpoint]' mounts file systems explicitly instead of inspecting, like guestfish
            (repeatable; one at /: -m /dev/vg/lv_root:/ -m /dev/sda2:/boot)
          'copy-in' copies local files and directories (recursively) into an existing directory of
            the image, keeping modes, owners, times, links and special files ('--xattrs': also
            extended attributes)
          'customize' applies virt-customize's operations in-process (--write, --upload, --copy-in,
            --append-line, --mkdir, --touch, --truncate[-recursive], --delete, --move, --copy, --link,
            --chmod, --chown UID.GID:PATH, --edit FILE:s/re/repl/, --hostname, --timezone,
            --root-password, --password, --ssh-inject, --firstboot[-command], --run, --install...
            deferred to first boot); everything is checked before the first write; '-n' lists
            what would change, '-x' lists what changed

        Guest commands (whole disks: MBR/GPT partitions; file systems recognised by content):
          'inspect' finds the operating systems like virt-inspector (root, distro, version, product name,
            hostname, arch, package format, mount points from /etc/fstab)
          'filesystems' lists file systems, partitions and the device like virt-filesystems --all --long
          'get-kernel' copies the default kernel and its initrd into the directory like virt-get-kernel
          'extract-fs' writes one partition or logical volume (/dev/sda2, /dev/VG/LV, or a number) out
            as an image of its own (raw by default, '-O qcow2', '-c' compressed): a partition image
          'lvm pvs|vgs|lvs' reports the LVM2 physical volumes, volume groups and logical volumes with the
            values of lvm's reports in bytes ('--reportformat json': lvm's JSON layout)

        Sysprep (virt-sysprep's operations as file edits, no VM; docs/sysprep.md):
          'sysprep' removes what a clone must not share (MAC addresses in network configuration, machine-id,
            SSH host keys, leases, logs, mail, histories...) from the file system in the image;
            '--operations' takes names and the keywords defaults, all, extras, with '-' to remove;
            '--enable' exactly the operations named; '--list-operations' lists them ('*' default, '+' extra);
            '--dry-run' prints every change without writing; '--machine-id' picks what /etc/machine-id
            holds afterwards (default empty, as virt-sysprep's operation leaves it); virt-customize's
            options (--hostname, --ssh-inject, --write, ...) are its 'customize' operation, run last

        Partition commands (MBR and GPT tables in raw or qcow2 images, placed like sfdisk: 1 MiB
        alignment):
          'part list' prints the table ('--output=json': the shape of 'sfdisk --json')
          'part create' writes a new empty table over the start (and, for gpt, the end) of the image
          'part add' adds a partition: '--size' (default: the largest free area), '--type' a name
            (linux, esp, bios, lvm, swap, raid, home, xbootldr, msdata, extended), a GUID (gpt) or a
            hex byte (mbr); '--logical' puts an mbr partition inside the extended partition
          'part delete' removes partition N; 'part resize' grows partition N into the free space after
            it, or to '--size' ('--shrink' allows a smaller size)

        OpenStack commands:
          'overcloud build' builds a recipe's images (default: overcloud-full.{qcow2,vmlinuz,initrd} and
            the deploy/agent ramdisks) from a base guest that stays unchanged; files are written atomically
            with a manifest (overcloud-build.json), current ones are skipped; SOURCE_DATE_EPOCH makes the
            outputs byte-identical; exit code 0 all built or current, 1 error, 3 some outputs skipped
        Upload (credentials from the OS_* variables: OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
        OS_PROJECT_NAME, ... or OS_AUTH_TYPE=none with OS_ENDPOINT for a standalone Glance; over
        the clouds.yaml cloud named by '--os-cloud' or OS_CLOUD, as openstackclient reads it):
          'overcloud upload' puts overcloud-full.{vmlinuz,initrd} (aki, ari) and the image (qcow2 or raw)
            into Glance with kernel_id, ramdisk_id and hw_architecture, as 'openstack overcloud image
            upload' does; an image of the same name and MD5 is reused; '--update-existing' renames a
            changed one NAME_<created_at> and uploads anew; '--http-boot' copies the agent kernel and
            ramdisk there as agent.kernel and agent.ramdisk

        Exit codes of 'check': 0 no problems, 1 check not completed, 2 corruptions, 3 leaks only,
        63 the format cannot be checked. Exit codes of 'compare': 0 identical, 1 different,
        2 an image could not be opened, 4 a read error.

        """;

    /// <summary>Runs the command line; returns the process exit code. Never throws for user errors.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default) =>
        Run(args, stdout, stderr, binaryStdout: null, cancellationToken);

    /// <summary>
    /// Runs the command line with standard output also available as bytes (for <c>cat</c>); returns the
    /// process exit code. Never throws for user errors.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Stream? binaryStdout, CancellationToken cancellationToken = default)
    {
        try
        {
            int code = Dispatch(args, stdout, stderr, binaryStdout, cancellationToken);

            // A verb that does not stop early (mkfs, check) still reports the interrupt when it is done.
            cancellationToken.ThrowIfCancellationRequested();
            return code;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stdout.Flush();
            stderr.Write($"{ProgramName}: Interrupted\n");
            return InterruptedExitCode;
        }
        catch (CliException e)
        {
            stdout.Flush();
            stderr.Write($"{ProgramName}: {CliWords.Speak(e.Message)}\n");
            if (e.ShowHelpHint)
            {
                stderr.Write($"Try '{ProgramName} --help' for more information\n");
            }

            return e.ExitCode;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            stdout.Flush();
            stderr.Write($"{ProgramName}: {CliWords.Speak(ImageOpener.Describe(e))}\n");
            return 1;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A defect, not a user error: say what it was instead of dying with an unhandled exception.
            stdout.Flush();
            stderr.Write($"{ProgramName}: internal error: {e.GetType().Name}: {e.Message}\n");
            if (Environment.GetEnvironmentVariable("DISKIMAGE_DEBUG") is "1")
            {
                stderr.Write(e.StackTrace + "\n");
            }

            return 1;
        }
        finally
        {
            ImageSecrets.Clear();
            stdout.Flush();
            stderr.Flush();
        }
    }

    private static int Dispatch(string[] args, TextWriter stdout, TextWriter stderr, Stream? binaryStdout, CancellationToken cancellationToken)
    {
        if (args.Length == 0)
        {
            throw CliException.Usage("Not enough arguments");
        }

        string command = args[0];
        string[] rest = command is "info" or "check" or "map" or "compare" or "create" or "convert" ? ImageSecrets.Extract(args[1..]) : args[1..];
        return command switch
        {
            "-h" or "--help" or "help" => PrintHelp(stdout),
            "-V" or "--version" => PrintVersion(stdout),
            "info" => InfoCommand.Run(rest, stdout),
            "check" => CheckCommand.Run(rest, stdout, stderr),
            "map" => MapCommand.Run(rest, stdout),
            "compare" => CompareCommand.Run(rest, stdout, cancellationToken),
            "create" => CreateCommand.Run(rest, stdout),
            "convert" => ConvertCommand.Run(rest, stdout, stderr, cancellationToken),
            "resize" => ResizeCommand.Run(rest, stdout, stderr),
            "measure" => MeasureCommand.Run(rest, stdout),
            "commit" => CommitCommand.Run(rest, stdout, cancellationToken),
            "rebase" => RebaseCommand.Run(rest, stdout, cancellationToken),
            "snapshot" => SnapshotCommand.Run(rest, stdout),
            "amend" => AmendCommand.Run(rest, stdout),
            "bitmap" => BitmapCommand.Run(rest, stdout),
            "dd" => DdCommand.Run(rest, stdout, stderr, cancellationToken),
            "mkinitramfs" => MkInitramfsCommand.Run(rest, stdout, cancellationToken),
            "lsinitramfs" => LsInitramfsCommand.Run(rest, stdout, stderr),
            "unpack-initramfs" => UnpackInitramfsCommand.Run(rest, stdout, stderr, cancellationToken),
            "make-ramdisk" when OperatingSystem.IsLinux() => MakeRamdiskCommand.Run(rest, stdout, cancellationToken),
            "mkfs" => MkfsCommand.Run(rest, stdout),
            "make-fs" when OperatingSystem.IsLinux() => MakeFsCommand.Run(rest, stdout, cancellationToken),
            "ls" => LsCommand.Run(rest, stdout, cancellationToken),
            "cat" => CatCommand.Run(rest, stdout, binaryStdout, cancellationToken),
            "copy-out" => CopyOutCommand.Run(rest, stdout, stderr, cancellationToken),
            "part" => PartCommand.Run(rest, stdout),
            "overcloud" => OvercloudCommand.Run(rest, stdout, stderr, cancellationToken),
            "inspect" => InspectCommand.Run(rest, stdout),
            "filesystems" => FilesystemsCommand.Run(rest, stdout),
            "get-kernel" => GetKernelCommand.Run(rest, stdout),
            "extract-fs" => ExtractFsCommand.Run(rest, stdout, cancellationToken),
            "lvm" => LvmCommand.Run(rest, stdout),
            "copy-in" when OperatingSystem.IsLinux() => CopyInCommand.Run(rest, stdout, stderr, cancellationToken),
            "customize" => CustomizeCommand.Run(rest, stdout, stderr),
            "sysprep" => SysprepCommand.Run(rest, stdout, stderr, cancellationToken),
            _ when command.StartsWith('-') => throw CliException.Usage($"unrecognized option '{command}'"),
            _ => throw CliException.Usage($"Command not found: {command}"),
        };
    }

    /// <summary>Prints the usage text to stdout; exit code 0.</summary>
    public static int PrintHelp(TextWriter stdout)
    {
        stdout.Write(VersionLine() + "\n" + Usage.Replace("\r\n", "\n", StringComparison.Ordinal));
        return 0;
    }

    private static int PrintVersion(TextWriter stdout)
    {
        stdout.Write(VersionLine() + "\n");
        return 0;
    }

    private static string VersionLine()
    {
        string version = typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        return $"{ProgramName} version {version}";
    }

    /// <summary>Parses <c>--output</c>: true for json, false for human.</summary>
    public static bool ParseOutputFormat(string value) => value switch
    {
        "json" => true,
        "human" => false,
        _ => throw new CliException("--output must be used with human or json as argument."),
    };
}
