using System.Globalization;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Guests;

/// <summary>
/// A whole-disk guest laid out like the TripleO whole-disk overcloud image, built once per test class by the real
/// tools: GPT (sfdisk) with a BIOS boot partition, an ESP (mkfs.fat + mtools) and an LVM2 PV (pvcreate, vgcreate,
/// lvcreate) holding <c>lv_root</c> (XFS), <c>lv_var</c> (XFS) and <c>lv_log</c> (ext4). This kernel has neither
/// partition scanning nor device-mapper, so the PV is an offset loop device over partition 3, lvm runs with
/// activation off (lvcreate then neither zeroes nor wipes), and each file system is made and filled through an
/// offset loop device at its LV's first extent (from <c>lvs -o seg_pe_ranges</c> and <c>pvs -o pe_start</c>),
/// mounted nested as fstab says: the debootstrap tree (without /usr/share) on the root, its /var on lv_var.
/// </summary>
public sealed class GuestLvmToolsFixture : IDisposable
{
    private const string Script = """
        set -eu
        T="$1"; D="$2"
        cd "$D"
        truncate -s 1100M disk.img
        sfdisk -q --no-reread --no-tell-kernel disk.img <<S
        label: gpt
        size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios
        size=32MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP
        type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name=lvm
        S
        start() { sfdisk -q -l -o Start disk.img | sed -n "$(( $1 + 1 ))p" | tr -d ' '; }
        size() { sfdisk -q -l -o Sectors disk.img | sed -n "$(( $1 + 1 ))p" | tr -d ' '; }
        mkfs.fat -n ESP -i 5AC1E5B0 -C esp.img $((32*1024)) >/dev/null
        export MTOOLS_SKIP_CHECK=1
        mmd -i esp.img ::/EFI ::/EFI/redhat
        printf 'search --label img-rootfs\n' > grub.cfg; mcopy -i esp.img grub.cfg ::/EFI/redhat/grub.cfg
        dd if=esp.img of=disk.img bs=1M seek=$(( $(start 2) / 2048 )) conv=notrunc,sparse status=none; rm esp.img
        P3=$(( $(start 3) * 512 ))
        LOOPS=""; MOUNTED=""
        cleanup() {
          for m in $MOUNTED; do umount "$m" 2>/dev/null || true; done
          for l in $LOOPS; do losetup -d "$l" 2>/dev/null || true; done
        }
        trap cleanup EXIT
        attach() { L=$(losetup -f --show -o "$1" --sizelimit "$2" disk.img); LOOPS="$L $LOOPS"; }
        attach $P3 $(( $(size 3) * 512 )); PV=$L
        CFG="global{activation=0} devices{filter=[\"a|^$PV\$|\",\"r|.*|\"] global_filter=[\"a|^$PV\$|\",\"r|.*|\"] scan_lvs=0 use_devicesfile=0 obtain_device_list_from_udev=0} backup{backup=0 archive=0}"
        export LVM_SUPPRESS_FD_WARNINGS=1
        lvm pvcreate -q --config "$CFG" "$PV" >/dev/null 2>&1
        lvm vgcreate -q --config "$CFG" -s 4M vg "$PV" >/dev/null 2>&1
        lvm lvcreate -q --config "$CFG" -n lv_root -L 420M vg >/dev/null 2>&1
        lvm lvcreate -q --config "$CFG" -n lv_var -L 320M vg >/dev/null 2>&1
        lvm lvcreate -q --config "$CFG" -n lv_log -L 64M vg >/dev/null 2>&1
        PE=$(lvm pvs --config "$CFG" --noheadings --units b --nosuffix -o pe_start "$PV" 2>/dev/null | tr -d ' ')
        : > layout
        lv() { # lv NAME: attaches the LV's bytes (one segment) and records "NAME OFFSET SIZE"
          R=$(lvm lvs --config "$CFG" --noheadings --units b --nosuffix -o seg_pe_ranges,lv_size "vg/$1" 2>/dev/null)
          FIRST=$(echo "$R" | sed -E 's/^ *[^:]*:([0-9]+)-.*/\1/'); SIZE=$(echo "$R" | awk '{print $2}')
          OFF=$(( P3 + PE + FIRST * 4194304 ))
          echo "$1 $OFF $SIZE" >> layout
          attach $OFF $SIZE
        }
        lv lv_root; ROOT=$L; lv lv_var; VAR=$L; lv lv_log; LOG=$L
        mkfs.xfs -q -f -L img-rootfs "$ROOT"; mkfs.xfs -q -f -L var "$VAR"; mkfs.ext4 -q -F -L log "$LOG"
        mkdir -p mnt
        mount -t xfs "$ROOT" mnt; MOUNTED="mnt"
        tar -C "$T" --exclude=./usr/share --exclude=./var -cf - . | tar -C mnt -xf -
        mkdir -p mnt/var mnt/boot/efi
        mount -t xfs "$VAR" mnt/var; MOUNTED="mnt/var $MOUNTED"
        cp -a "$T/var/." mnt/var/
        mkdir -p mnt/var/log
        mount -t ext4 "$LOG" mnt/var/log; MOUNTED="mnt/var/log $MOUNTED"
        echo log > mnt/var/log/on-log
        cat > mnt/etc/fstab <<F
        /dev/mapper/vg-lv_root / xfs defaults 0 1
        UUID=5AC1-E5B0 /boot/efi vfat umask=0077 0 2
        /dev/vg/lv_var /var xfs defaults 0 2
        LABEL=log /var/log ext4 defaults 0 2
        F
        echo overcloud-lvm > mnt/etc/hostname
        """;

    private readonly TempDirectory _directory = new();
    private readonly BuiltDisk _disk;

    public GuestLvmToolsFixture() => _disk = new BuiltDisk(Build);

    /// <summary>The debootstrap tree the root was filled from.</summary>
    public string Tree { get; private set; } = string.Empty;

    /// <summary>The byte offset (in the disk) and size of each LV, as lvs and pvs report them.</summary>
    public Dictionary<string, (long Offset, long Size)> LogicalVolumes { get; } = [];

    /// <summary>The image path; skips the calling test when it cannot be built here.</summary>
    public string Require() => _disk.Require();

    /// <summary>A private copy of the image (for tests that write).</summary>
    public string Copy(TempDirectory tmp) => _disk.Copy(tmp);

    private (string?, string?) Build()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return (null, "not root: the LVM fixture makes and fills file systems through loop devices");
        }

        try
        {
            Tree = Fixtures.RequireDebootstrapTree();
        }
        catch (SkipException e)
        {
            return (null, e.Message);
        }

        foreach (string tool in new[] { "sfdisk", "lvm", "mkfs.ext4", "mkfs.xfs", "mkfs.fat", "mmd", "mcopy", "losetup", "mount", "tar" })
        {
            if (Oracle.Find(tool) is null)
            {
                return (null, $"Oracle tool '{tool}' is not installed.");
            }
        }

        ToolResult r = Oracle.Run("bash", ["-c", Script.Replace("\r\n", "\n", StringComparison.Ordinal), "lvm-guest-fixture", Tree, _directory.Path], TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, "building the LVM guest image failed: " + r);
        foreach (string line in File.ReadAllLines(_directory.File("layout")))
        {
            string[] f = line.Split(' ');
            LogicalVolumes[f[0]] = (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture));
        }

        return (_directory.File("disk.img"), null);
    }

    public void Dispose() => _directory.Dispose();
}
