using System.Globalization;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Guests;

/// <summary>
/// A whole-disk Debian guest built with the real tools, once per test class: GPT (sfdisk) with a BIOS boot
/// partition, an ESP (mkfs.fat + mtools), /boot (mkfs.ext4 -d with the host's kernel and initrd, as a Debian guest
/// has them), the root (mkfs.ext4 -d of the debootstrap tree, fstab and hostname replaced with debugfs), swap
/// (mkswap) and /var (mkfs.xfs, filled through a kernel loop mount). fstab uses UUID=, LABEL= and /dev/vda5.
/// Needs root (the XFS fill), the debootstrap fixture and a host kernel in /boot; otherwise tests skip.
/// </summary>
public sealed class GuestDiskFixture : IDisposable
{
    /// <summary>The partition numbers of the layout.</summary>
    public const int Esp = 2, Boot = 3, Root = 4, Swap = 5, Var = 6;

    private const string Script = """
        set -eu
        T="$1"; D="$2"; KVER="$3"
        cd "$D"
        truncate -s 1000M disk.img
        sfdisk -q --no-reread --no-tell-kernel disk.img <<S
        label: gpt
        size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios
        size=32MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP
        size=128MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=boot
        size=400MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
        size=32MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=swap
        type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=var
        S
        start() { sfdisk -q -l -o Start disk.img | sed -n "$(( $1 + 1 ))p" | tr -d ' '; }
        size() { sfdisk -q -l -o Sectors disk.img | sed -n "$(( $1 + 1 ))p" | tr -d ' '; }
        mkdir -p bootdir/efi
        cp "/boot/vmlinuz-$KVER" "/boot/initrd.img-$KVER" bootdir/
        mkfs.ext4 -q -F -L boot -d bootdir boot.img 128M
        mkfs.ext4 -q -F -L root -d "$T" root.img 400M
        mkfs.fat -n ESP -i 280A191A -C esp.img $((32*1024)) >/dev/null
        export MTOOLS_SKIP_CHECK=1
        mmd -i esp.img ::/EFI ::/EFI/debian
        printf 'search --fs-uuid\n' > grub.cfg; mcopy -i esp.img grub.cfg ::/EFI/debian/grub.cfg
        RU=$(blkid -s UUID -o value root.img)
        cat > fstab <<F
        # /etc/fstab: static file system information.
        UUID=$RU / ext4 errors=remount-ro 0 1
        LABEL=boot /boot ext4 defaults 0 2
        UUID=280A-191A /boot/efi vfat umask=0077 0 1
        LABEL=var /var xfs defaults 0 2
        /dev/vda5 none swap sw 0 0
        proc /proc proc defaults 0 0
        UUID=00000000-dead-beef-0000-000000000000 /srv ext4 defaults 0 2
        F
        echo guesthost > hostname
        debugfs -w root.img -f - >/dev/null 2>&1 <<C
        rm /etc/fstab
        write fstab /etc/fstab
        rm /etc/hostname
        write hostname /etc/hostname
        C
        truncate -s 32M swap.img; mkswap -L swap0 swap.img >/dev/null 2>&1
        truncate -s $(( $(size 6) * 512 )) var.img
        mkfs.xfs -q -f -L var var.img
        mkdir -p mnt
        L=$(losetup -f --show var.img)
        trap 'umount mnt 2>/dev/null || true; losetup -d $L 2>/dev/null || true' EXIT
        mount -t xfs "$L" mnt
        cp -a "$T/var/." mnt/; echo xfs > mnt/xfs-marker
        umount mnt; losetup -d "$L"; trap - EXIT
        put() { dd if="$2" of=disk.img bs=1M seek=$(( $(start $1) / 2048 )) conv=notrunc,sparse status=none; }
        put 2 esp.img; put 3 boot.img; put 4 root.img; put 5 swap.img; put 6 var.img
        rm -rf esp.img boot.img root.img swap.img var.img bootdir mnt
        """;

    private readonly TempDirectory _directory = new();
    private readonly BuiltDisk _disk;

    public GuestDiskFixture() => _disk = new BuiltDisk(Build);

    /// <summary>The debootstrap tree the root was made from.</summary>
    public string Tree { get; private set; } = string.Empty;

    /// <summary>The host kernel release copied into /boot.</summary>
    public string KernelVersion { get; private set; } = string.Empty;

    /// <summary>The image path; skips the calling test when it cannot be built here.</summary>
    public string Require() => _disk.Require();

    /// <summary>A private copy of the image (for tests that write).</summary>
    public string Copy(TempDirectory tmp) => _disk.Copy(tmp);

    /// <summary>The byte offset and length of partition <paramref name="number"/>, from <c>sfdisk --json</c>.</summary>
    public (long Offset, long Length) PartitionExtent(int number)
    {
        ToolResult r = Oracle.Run("sfdisk", ["--json", Require()]);
        var json = System.Text.Json.Nodes.JsonNode.Parse(r.StandardOutput)!;
        foreach (var p in json["partitiontable"]!["partitions"]!.AsArray())
        {
            if (p!["node"]!.GetValue<string>().EndsWith(number.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
            {
                return (p["start"]!.GetValue<long>() * 512, p["size"]!.GetValue<long>() * 512);
            }
        }

        throw new InvalidOperationException($"partition {number} not found");
    }

    /// <summary>The GPT unique GUID and name of partition <paramref name="number"/>, from <c>sfdisk --json</c>.</summary>
    public (string Uuid, string? Name) PartitionIdentity(int number)
    {
        ToolResult r = Oracle.Run("sfdisk", ["--json", Require()]);
        var json = System.Text.Json.Nodes.JsonNode.Parse(r.StandardOutput)!;
        var p = json["partitiontable"]!["partitions"]!.AsArray()[number - 1]!;
        return (p["uuid"]!.GetValue<string>(), p["name"]?.GetValue<string>());
    }

    private (string?, string?) Build()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return (null, "not root: the guest fixture fills XFS through a loop mount");
        }

        try
        {
            Tree = Fixtures.RequireDebootstrapTree();
        }
        catch (SkipException e)
        {
            return (null, e.Message);
        }

        foreach (string tool in new[] { "sfdisk", "mkfs.ext4", "mkfs.xfs", "mkfs.fat", "mmd", "mcopy", "mkswap", "debugfs", "blkid", "losetup", "mount" })
        {
            if (Oracle.Find(tool) is null)
            {
                return (null, $"Oracle tool '{tool}' is not installed.");
            }
        }

        string? kernel = Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*").Order(StringComparer.Ordinal).LastOrDefault() : null;
        if (kernel is null || !File.Exists("/boot/initrd.img-" + Path.GetFileName(kernel)["vmlinuz-".Length..]))
        {
            return (null, "no /boot/vmlinuz-V with /boot/initrd.img-V on the host to put in the guest");
        }

        KernelVersion = Path.GetFileName(kernel)["vmlinuz-".Length..];
        ToolResult r = Oracle.Run("bash", ["-c", Script.Replace("\r\n", "\n", StringComparison.Ordinal), "guest-fixture", Tree, _directory.Path, KernelVersion], TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, "building the guest image failed: " + r);
        return (_directory.File("disk.img"), null);
    }

    public void Dispose() => _directory.Dispose();
}
