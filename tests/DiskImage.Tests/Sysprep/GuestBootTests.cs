using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.Xfs;
using DiskImage.Formats.Qcow2;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;
using DiskImage.Partitions.Mbr;
using DiskImage.Sysprep;
using DiskImage.Tests.Archives;
using DiskImage.Tests.Customization;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Sysprep;

/// <summary>
/// Issue 12, acceptance 4: a whole-disk qcow2 guest made only by our writers (qcow2, MBR or GPT, an ext4 or XFS
/// root built from the debootstrap tree) gets planted identifiers, our sysprep (default operations, machine-id
/// <c>uninitialized</c>; BLS names get the placeholder ID) and our customize (hostname, ssh-inject, a first-boot command, the boot marker) through
/// the library API. e2fsck -fn / xfs_repair -n judge the root (read out of the qcow2 by qemu-img dd) before and
/// after the boot; the host's Debian kernel and initramfs-tools initrd then boot the qcow2 under qemu (TCG).
/// </summary>
/// <remarks>
/// The debootstrap minbase tree has no init system (no systemd, no sysvinit), so the kernel runs
/// <c>init=</c><see cref="MarkerPath"/>, a script the customize installs. It does what PID 1 would do for this
/// check: mounts /proc, sets the host name from /etc/hostname, runs the first-boot runner exactly as the
/// installed <c>guestfs-firstboot.service</c> does (<c>/usr/lib/virt-sysprep/firstboot.sh start</c>), prints the
/// marker lines, remounts the root read-only and powers off. A full systemd boot needs a guest with systemd.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class GuestBootTests(ITestOutputHelper output)
{
    private const string MarkerPath = "/usr/local/sbin/diskimage-boot-marker";
    private const string Done = "DISKIMAGE-BOOT-DONE";
    private const string OldMachineId = "5f1c0d8e2a4b4c6d9e0f1a2b3c4d5e6f";
    private const string OldKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldTemplateKeyMustGo template@build";
    private const string NewKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootCheckInjectedKey0123456789 boot@check";
    private const string HostName = "bootcheck.example.com";
    private const string NewMachineId = "b007ed0123456789abcdef0123456789";
    private const string Placeholder = "00000000000000000000000000000000";

    private const string Marker = """
        #!/bin/sh
        # PID 1 of the DiskImage boot check (the guest has no init system): what init does for this check, then markers.
        PATH=/usr/sbin:/usr/bin:/sbin:/bin
        export PATH
        mount -t proc proc /proc
        mount -t sysfs sys /sys
        hostname -F /etc/hostname
        echo "DISKIMAGE-BOOT|root|$(grep ' / ' /proc/mounts | cut -d' ' -f1,3,4)"
        /usr/lib/virt-sysprep/firstboot.sh start
        echo "DISKIMAGE-BOOT|machine-id|$(cat /etc/machine-id)|$(wc -c < /etc/machine-id)"
        echo "DISKIMAGE-BOOT|dbus-machine-id|$(wc -c < /var/lib/dbus/machine-id)"
        echo "DISKIMAGE-BOOT|hostname|$(hostname)"
        while IFS= read -r k; do echo "DISKIMAGE-BOOT|key|$k"; done < /root/.ssh/authorized_keys
        echo "DISKIMAGE-BOOT|key-mode|$(stat -c '%a %u' /root/.ssh /root/.ssh/authorized_keys | tr '\n' ' ')"
        echo "DISKIMAGE-BOOT|ssh-host-keys|$(ls /etc/ssh | grep -c _host_)"
        echo "DISKIMAGE-BOOT|firstboot-out|$(cat /root/firstboot.out)"
        # systemd writes a new ID at a first boot; then diskimage-bls-entries.service (installed by sysprep) runs.
        echo b007ed0123456789abcdef0123456789 > /etc/machine-id
        /bin/sh /usr/local/sbin/diskimage-bls-entries
        echo "DISKIMAGE-BOOT|bls|$(ls -A /boot/loader/entries /boot | tr '\n' ' ')"
        echo "DISKIMAGE-BOOT|grubenv|$(grep saved_entry /boot/grub/grubenv)|$(wc -c < /boot/grub/grubenv)"
        echo "DISKIMAGE-BOOT|bls-unit|$(ls /etc/systemd/system/diskimage-bls-entries.service /usr/local/sbin/diskimage-bls-entries 2>/dev/null | wc -l)"
        echo DISKIMAGE-BOOT-DONE
        sync
        mount -o remount,ro /
        echo o > /proc/sysrq-trigger
        sleep 60

        """;

    [SkippableTheory]
    [InlineData("mbr", "ext4")]
    [InlineData("gpt", "xfs")]
    public void SysprepAndCustomize_BootedByKernel_MarkerShowsResetIdHostnameAndKey(string table, string fileSystem)
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string qemu = Oracle.Require("qemu-system-x86_64");
        Oracle.Require("qemu-img");
        Oracle.Require(fileSystem == "xfs" ? "xfs_repair" : "e2fsck");
        string kernel = InitramfsBootTests.RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string initrd = "/boot/initrd.img-" + Path.GetFileName(kernel)["vmlinuz-".Length..];
        if (!File.Exists(initrd))
        {
            string reason = $"{initrd} is missing (the boot check uses the kernel's initramfs-tools initrd for virtio_blk and the root file system)";
            Assert.False(Oracle.Required, reason);
            throw new SkipException(reason);
        }

        using var tmp = new TempDirectory();
        string image = tmp.File("guest.qcow2");
        var clock = Stopwatch.StartNew();
        Partition root = MakeDisk(image, tree, table, fileSystem);
        output.WriteLine($"{table}/{fileSystem}: disk built in {clock.Elapsed.TotalSeconds:F1} s (root {root.Number} at {root.Offset})");

        string rootArgument;
        using (Guest guest = Guest.Open(image, new GuestOpenOptions { Writable = true }))
        {
            GuestOperatingSystem os = Assert.Single(guest.Inspect());
            GuestVolume volume = guest.GetVolume(os.Root);
            Assert.Equal(fileSystem, volume.FileSystemTypeName);
            rootArgument = table == "gpt" ? "UUID=" + volume.Uuid : "/dev/vda" + root.Number.ToString(CultureInfo.InvariantCulture);
            IFileSystem fs = guest.Mount(os);
            Plant(fs);

            SysprepResult sysprep = SysprepRunner.Run(fs, new SysprepOptions { MachineId = MachineIdPolicy.Uninitialized });
            Assert.Contains("/etc/ssh/ssh_host_ed25519_key", sysprep.DeletedPaths);
            Assert.Contains("/root/.ssh", sysprep.DeletedPaths);
            Assert.True(fs.Exists($"/boot/loader/entries/{Placeholder}-6.1.0-test.conf") && fs.Exists($"/boot/vmlinuz-0-rescue-{Placeholder}"));
            Assert.False(fs.Exists($"/boot/loader/entries/{OldMachineId}-6.1.0-test.conf"));
            Assert.True(fs.Exists("/usr/local/sbin/diskimage-bls-entries") && fs.Exists("/etc/systemd/system/diskimage-bls-entries.service"));

            var script = new CustomizeScript();
            script.Add("hostname", HostName);
            script.Add("ssh-inject", "root:string:" + NewKey);
            script.Add("firstboot-command", "echo first-boot-ran machine-id=$(cat /etc/machine-id) > /root/firstboot.out");
            script.Add("mkdir", "/usr/local/sbin");
            script.Add("write", MarkerPath + ":" + Marker.Replace("\r\n", "\n", StringComparison.Ordinal));
            script.Add("chmod", "0755:" + MarkerPath);

            // The sysprep left machine-id 'uninitialized' (not empty), so nothing refills it here.
            Customizer.Apply(fs, script);
            Assert.Equal("uninitialized\n", GuestFixture.Read(fs, "/etc/machine-id"));
            Assert.Equal(string.Empty, GuestFixture.Read(fs, "/var/lib/dbus/machine-id"));
            Assert.Equal(NewKey + "\n", GuestFixture.Read(fs, "/root/.ssh/authorized_keys"));
            guest.Flush();
        }

        QcowCheck(image);
        CheckFileSystem(image, root, fileSystem, tmp, "after sysprep and customize");
        output.WriteLine($"{table}/{fileSystem}: prepared and checked at {clock.Elapsed.TotalSeconds:F1} s");

        string console = Boot(qemu, kernel, initrd, image, rootArgument);
        output.WriteLine($"{table}/{fileSystem}: booted at {clock.Elapsed.TotalSeconds:F1} s");
        var marks = new List<string>();
        foreach (string line in console.Split('\n'))
        {
            int at = line.IndexOf("DISKIMAGE-BOOT|", StringComparison.Ordinal);
            if (at >= 0)
            {
                marks.Add(line[(at + "DISKIMAGE-BOOT|".Length)..].TrimEnd());
            }
        }

        output.WriteLine(string.Join('\n', marks));
        string why = "console:\n" + Tail(console);
        Assert.True(marks.Contains("machine-id|uninitialized|14"), why);
        Assert.True(marks.Contains("dbus-machine-id|0"), why);
        Assert.True(marks.Contains("hostname|" + HostName), why);
        Assert.Equal(["key|" + NewKey], marks.Where(m => m.StartsWith("key|", StringComparison.Ordinal)));
        Assert.True(marks.Contains("key-mode|700 0 600 0"), why);
        Assert.True(marks.Contains("ssh-host-keys|0"), why);
        Assert.True(marks.Contains("firstboot-out|first-boot-ran machine-id=uninitialized"), why);
        Assert.True(marks.Any(m => m.StartsWith("root|", StringComparison.Ordinal) && m.Contains(" " + fileSystem + " rw", StringComparison.Ordinal)), why);
        Assert.True(marks.Contains($"bls|/boot: grub loader vmlinuz-0-rescue-{NewMachineId}  /boot/loader/entries: {NewMachineId}-6.1.0-test.conf"), why);
        Assert.True(marks.Contains($"grubenv|saved_entry={NewMachineId}-6.1.0-test|1024"), why);
        Assert.True(marks.Contains("bls-unit|0"), why);
        Assert.DoesNotContain(OldMachineId, console, StringComparison.Ordinal);
        Assert.DoesNotContain(OldKey, console, StringComparison.Ordinal);

        // The guest's own writes (the first-boot runner moved and ran its script) leave the file system clean too.
        CheckFileSystem(image, root, fileSystem, tmp, "after the boot");
        using (Guest after = Guest.Open(image))
        {
            IFileSystem fs = after.Mount(Assert.Single(after.Inspect()));
            Assert.Equal("first-boot-ran machine-id=uninitialized\n", GuestFixture.Read(fs, "/root/firstboot.out"));
            Assert.Equal($"title Debian test\nversion 6.1.0-test\nlinux /vmlinuz-6.1.0-test\nmachine-id {NewMachineId}\n", GuestFixture.Read(fs, $"/boot/loader/entries/{NewMachineId}-6.1.0-test.conf"));
            Assert.Empty(fs.EnumerateDirectory("/usr/lib/virt-sysprep/scripts"));
            Assert.Contains("=== Exit code: 0 ===", GuestFixture.Read(fs, "/root/virt-sysprep-firstboot.log"), StringComparison.Ordinal);
        }
    }

    /// <summary>qcow2 (our writer) → MBR or GPT (our tables) → the root file system built from the tree (our builders).</summary>
    private static Partition MakeDisk(string image, string tree, string table, string fileSystem)
    {
        using Qcow2Image qcow2 = Qcow2Image.Create(image, 1L << 30);
        BlockDevice disk = qcow2.Content;
        PartitionTable partitions = table == "gpt" ? GptPartitionTable.Create(disk) : MbrPartitionTable.Create(disk);
        if (table == "gpt")
        {
            partitions.Add(new PartitionAddOptions { Size = 1 << 20, Type = "bios" });
        }

        Partition root = partitions.Add(new PartitionAddOptions { Size = 720L << 20, Type = "linux", Name = table == "gpt" ? "root" : null });
        using (BlockDevice window = partitions.OpenPartition(root.Number))
        using (var source = new HostDirectoryFileSystem(tree))
        {
            if (fileSystem == "xfs")
            {
                XfsFileSystem.Build(window, source);
            }
            else
            {
                Ext4FileSystem.Build(window, source);
            }
        }

        qcow2.Flush();
        return root;
    }

    /// <summary>
    /// What a used template carries: a machine ID, SSH host keys, a template login key, logs, leases, history, and a
    /// BLS entry, rescue kernel and grubenv named after the machine ID (not booted: they show the first-boot rename).
    /// </summary>
    private static void Plant(IFileSystem fs)
    {
        foreach (string d in (string[])["/etc/ssh", "/var/lib/dbus", "/root/.ssh", "/var/lib/dhcp", "/etc/udev", "/etc/udev/rules.d", "/boot/loader", "/boot/loader/entries", "/boot/grub"])
        {
            if (!fs.Exists(d))
            {
                fs.CreateDirectory(d);
            }
        }

        GuestFixture.Write(fs, "/etc/machine-id", OldMachineId + "\n");
        GuestFixture.Write(fs, "/var/lib/dbus/machine-id", OldMachineId + "\n");
        GuestFixture.Write(fs, "/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted\n-----END OPENSSH PRIVATE KEY-----\n");
        fs.SetMode("/etc/ssh/ssh_host_ed25519_key", (UnixFileMode)0x180);
        GuestFixture.Write(fs, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAplantedhostkey root@template\n");
        GuestFixture.Write(fs, "/root/.ssh/authorized_keys", OldKey + "\n");
        GuestFixture.Write(fs, "/root/.bash_history", "cat /etc/shadow\n");
        GuestFixture.Write(fs, "/var/lib/dhcp/dhclient.enp1s0.leases", "lease { fixed-address 192.0.2.10; }\n");
        GuestFixture.Write(fs, "/etc/udev/rules.d/70-persistent-net.rules", "SUBSYSTEM==\"net\", ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"\n");
        GuestFixture.Write(fs, "/var/log/planted.log", "template log\n");
        GuestFixture.Write(fs, $"/boot/loader/entries/{OldMachineId}-6.1.0-test.conf", $"title Debian test\nversion 6.1.0-test\nlinux /vmlinuz-6.1.0-test\nmachine-id {OldMachineId}\n");
        GuestFixture.Write(fs, $"/boot/vmlinuz-0-rescue-{OldMachineId}", "rescue kernel\n");
        string env = $"# GRUB Environment Block\nsaved_entry={OldMachineId}-6.1.0-test\n";
        GuestFixture.Write(fs, "/boot/grub/grubenv", env + new string('#', 1024 - env.Length));
    }

    private static void QcowCheck(string image)
    {
        ToolResult check = Oracle.Run("qemu-img", "check", "-f", "qcow2", image);
        Assert.True(check.ExitCode == 0, check.ToString());
    }

    /// <summary>Reads the root partition out of the qcow2 with qemu-img dd and runs e2fsck -fn or xfs_repair -n on it.</summary>
    private void CheckFileSystem(string image, Partition root, string fileSystem, TempDirectory tmp, string when)
    {
        const long Block = 1 << 20;
        Assert.True(root.Offset % Block == 0 && root.Length % Block == 0, "the root partition is not MiB-aligned");
        string raw = tmp.File("root.raw");
        File.Delete(raw);
        ToolResult dd = Oracle.Run(
            "qemu-img",
            ["dd", "-f", "qcow2", "-O", "raw", "bs=1M", $"skip={root.Offset / Block}", $"count={(root.Offset + root.Length) / Block}", "if=" + image, "of=" + raw],
            TimeSpan.FromMinutes(3));
        Assert.True(dd.ExitCode == 0, dd.ToString());

        // qemu-img dd (7.2) counts the skipped blocks in count=; asking for offset + length and cutting the tail works either way.
        Assert.True(new FileInfo(raw).Length >= root.Length, "qemu-img dd read less than the partition");
        using (var f = new FileStream(raw, FileMode.Open, FileAccess.Write))
        {
            f.SetLength(root.Length);
        }

        ToolResult r = fileSystem == "xfs"
            ? Oracle.Run("xfs_repair", ["-n", "-f", raw], TimeSpan.FromMinutes(3))
            : Oracle.Run("e2fsck", ["-fn", raw], TimeSpan.FromMinutes(3));
        output.WriteLine($"{fileSystem} check {when}: exit {r.ExitCode}");
        Assert.True(r.ExitCode == 0, $"{fileSystem} check {when}:\n{r}");
        File.Delete(raw);
    }

    private static string Boot(string qemu, string kernel, string initrd, string image, string rootArgument)
    {
        string[] args =
        [
            "-machine", "q35", "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-net", "none",
            "-kernel", kernel, "-initrd", initrd,
            "-append", $"console=ttyS0 root={rootArgument} rw init={MarkerPath} panic=-1 quiet",
            "-drive", $"file={image},format=qcow2,if=virtio",
        ];
        ToolResult r = Oracle.Run(qemu, args, TimeSpan.FromMinutes(5));
        string console = r.StandardOutput.Replace("\r", string.Empty, StringComparison.Ordinal);
        Assert.True(console.Contains(Done, StringComparison.Ordinal), $"The guest did not reach the marker (qemu exit {r.ExitCode}):\n{Tail(console)}\n{r.StandardError}");
        return console;
    }

    private static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;
}
