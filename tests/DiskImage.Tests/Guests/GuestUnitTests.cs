using System.Buffers.Binary;
using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.Guests;
using DiskImage.IO;
using DiskImage.Partitions;
using DiskImage.Partitions.Gpt;

namespace DiskImage.Tests.Guests;

/// <summary>
/// Guest detection, fstab resolution and the composite view on small disks built in memory (GPT with ext4
/// partitions made by this library): the rules of libguestfs' inspection, and hostile layouts (fstab entries that
/// point nowhere, missing or cyclic mount points, bad tables) answered with warnings or clear exceptions.
/// </summary>
public sealed class GuestUnitTests
{
    private const long DiskSize = 64L << 20;
    private static readonly Guid DataGuid = Guid.Parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

    /// <summary>A GPT disk with three ext4 partitions: root (label "rootfs"), data (name "datapart"), third (name "third").</summary>
    private static MemoryBlockDevice NewDisk(string fstab, Action<IFileSystem>? root = null)
    {
        var disk = new MemoryBlockDevice((int)DiskSize);
        GptPartitionTable table = GptPartitionTable.Create(disk);
        table.Add(new PartitionAddOptions { Size = 24 << 20, Name = "rootpart" });
        table.Add(new PartitionAddOptions { Size = 16 << 20, Name = "datapart", UniqueGuid = DataGuid });
        table.Add(new PartitionAddOptions { Name = "third" });
        string[] labels = ["rootfs", "data", "third"];
        for (int n = 1; n <= 3; n++)
        {
            using BlockDevice window = table.OpenPartition(n);
            Ext4FileSystem.Format(window, new Ext4FormatOptions { Label = labels[n - 1] });
            using Ext4FileSystem fs = Ext4FileSystem.Open(window, new Ext4OpenOptions { Writable = true }, leaveOpen: true);
            if (n == 1)
            {
                fs.CreateDirectory("/etc");
                fs.CreateDirectory("/usr");
                fs.CreateDirectory("/usr/bin");
                fs.CreateSymbolicLink("/bin", "usr/bin");
                fs.CreateDirectory("/data");
                fs.CreateDirectory("/third");
                fs.CreateDirectory("/mnt");
                Write(fs, "/etc/fstab", fstab);
                Write(fs, "/etc/hostname", "# comment\n\nmemhost\n");
                Write(fs, "/etc/os-release", "ID=ubuntu\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nVERSION_ID=\"22.04\"\n");
                root?.Invoke(fs);
            }
            else
            {
                Write(fs, "/on-" + labels[n - 1], labels[n - 1]);
            }

            fs.Flush();
        }

        return disk;
    }

    private static void Write(IFileSystem fs, string path, string text)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(Encoding.UTF8.GetBytes(text));
    }

    private static string Read(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    [Fact]
    public void Inspect_FstabTagsAndDeviceNames_ResolveLikeLibguestfs()
    {
        string fstab = $"""
            LABEL=rootfs / ext4 defaults 0 1
            PARTUUID={DataGuid.ToString().ToUpperInvariant()} /data ext4 defaults 0 2
            PARTLABEL=third /third ext4 defaults 0 2
            /dev/vda3 /mnt ext4 defaults 0 2
            /dev/nvme0n1p2 /media/x ext4 defaults 0 0
            tmpfs /tmp tmpfs defaults 0 0
            /dev/cdrom /cdrom iso9660 ro 0 0
            """;
        using MemoryBlockDevice disk = NewDisk(fstab);
        using Guest guest = Guest.Open(disk, leaveOpen: true);
        Assert.Equal(DataGuid.ToString(), guest.GetVolume("/dev/sda2").PartitionUuid);
        Assert.Equal("datapart", guest.GetVolume("/dev/sda2").PartitionLabel);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Equal("/dev/sda1", os.Root);
        Assert.Equal(["/dev/sda1:/", "/dev/sda2:/data", "/dev/sda3:/third", "/dev/sda3:/mnt"], os.Mounts.Select(m => m.ToString()));
        Assert.Equal("ubuntu", os.Distro);
        Assert.Equal((22, 4), (os.MajorVersion, os.MinorVersion));
        Assert.Equal("Ubuntu 22.04.4 LTS", os.ProductName);
        Assert.Equal("memhost", os.Hostname);
        Assert.Equal(("deb", "apt"), (os.PackageFormat, os.PackageManagement));
        Assert.Empty(os.Warnings);

        IFileSystem view = guest.Mount(os);
        Assert.Equal("data", Read(view, "/data/on-data"));
        Assert.Equal("third", Read(view, "/third/on-third"));
        Assert.Equal("third", Read(view, "/mnt/on-third"));
        Assert.Equal(UnixFileType.Directory, view.GetEntry("/data").Type);
        Assert.Contains(view.EnumerateDirectory("/data"), e => e.Name == "on-data" && e.Path == "/data/on-data");
    }

    [Fact]
    public void Inspect_FstabPointingNowhere_LeftOutWithWarnings()
    {
        string fstab = """
            UUID=0f0f0f0f-0000-0000-0000-000000000000 / ext4 defaults 0 1
            LABEL=nosuch /data ext4 defaults 0 2
            /dev/sdb1 /third ext4 defaults 0 2
            PARTUUID=12345678-01 /mnt ext4 defaults 0 2
            /dev/mapper/vg-lv /srv xfs defaults 0 2
            LABEL=data /nonexistent/dir ext4 defaults 0 2
            """;
        using MemoryBlockDevice disk = NewDisk(fstab);
        using Guest guest = Guest.Open(disk, leaveOpen: true);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Equal("/dev/sda1", os.Root);
        Assert.Equal(["/dev/sda1:/", "/dev/sda2:/nonexistent/dir"], os.Mounts.Select(m => m.ToString()));
        Assert.Contains(os.Warnings, w => w.Contains("LABEL=nosuch", StringComparison.Ordinal));
        Assert.Contains(os.Warnings, w => w.Contains("/dev/sdb1", StringComparison.Ordinal));
        Assert.Contains(os.Warnings, w => w.Contains("/dev/mapper/vg-lv", StringComparison.Ordinal));
        Assert.Contains(os.Warnings, w => w.Contains("/nonexistent/dir", StringComparison.Ordinal) && w.Contains("does not exist", StringComparison.Ordinal));

        // The lenient view leaves the mount out; an explicit mount of the same is an error.
        IFileSystem view = guest.Mount(os);
        Assert.False(view.Exists("/nonexistent"));
        Assert.Throws<IOException>(() => guest.Mount([new GuestMount("/dev/sda1", "/"), new GuestMount("/dev/sda2", "/nonexistent/dir")]));
        Assert.Throws<ArgumentException>(() => guest.Mount([new GuestMount("/dev/sda1", "/"), new GuestMount("/dev/sdz9", "/data")]));
        Assert.Throws<ArgumentException>(() => guest.Mount([new GuestMount("/dev/sda2", "/data")]));
    }

    [Fact]
    public void Mount_CyclicSymlinkMountPointAndSelfMount_BoundedAndClear()
    {
        string fstab = """
            LABEL=rootfs / ext4 defaults 0 1
            LABEL=data /loop/inside ext4 defaults 0 2
            LABEL=rootfs /mnt ext4 defaults 0 2
            LABEL=third /data/link ext4 defaults 0 2
            """;
        using MemoryBlockDevice disk = NewDisk(fstab, fs =>
        {
            fs.CreateSymbolicLink("/loop", "/loop");
            fs.CreateSymbolicLink("/ping", "pong");
            fs.CreateSymbolicLink("/pong", "ping");
        });
        using Guest guest = Guest.Open(disk, leaveOpen: true);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Contains(os.Warnings, w => w.Contains("/loop/inside", StringComparison.Ordinal) && w.Contains("symbolic links", StringComparison.Ordinal));

        IFileSystem view = guest.Mount(os);
        Assert.Throws<IOException>(() => view.GetEntry("/ping/x"));
        Assert.Throws<IOException>(() => view.OpenFile("/loop", FileMode.Open, FileAccess.Read));

        // The root mounted inside itself: /mnt shows the root, /mnt/mnt the (empty) directory below it; a walk ends.
        Assert.Contains(view.EnumerateDirectory("/mnt"), e => e.Name == "etc");
        Assert.Empty(view.EnumerateDirectory("/mnt/mnt"));
        Assert.True(CountTree(view, "/", 10_000) < 10_000);

        Assert.Throws<IOException>(() => guest.Mount([new GuestMount("/dev/sda1", "/"), new GuestMount("/dev/sda2", "/loop/inside")]));
    }

    private static int CountTree(IFileSystem fs, string path, int limit)
    {
        int count = 0;
        var stack = new Stack<string>();
        stack.Push(path);
        while (stack.Count > 0 && count < limit)
        {
            foreach (UnixFileInfo e in fs.EnumerateDirectory(stack.Pop()))
            {
                count++;
                if (e.IsDirectory)
                {
                    stack.Push(e.Path);
                }
            }
        }

        return count;
    }

    [Fact]
    public void View_WritesGoToTheOwningFileSystem_CrossMountMovesRefused()
    {
        string fstab = "LABEL=rootfs / ext4 defaults 0 1\nLABEL=data /data ext4 defaults 0 2\n";
        using MemoryBlockDevice disk = NewDisk(fstab);
        using (Guest guest = Guest.Open(disk, new GuestOpenOptions { Writable = true }, leaveOpen: true))
        {
            IFileSystem view = guest.Mount(Assert.Single(guest.Inspect()));
            Write(view, "/data/new.txt", "into data");
            view.CreateDirectory("/data/sub");
            view.CreateSymbolicLink("/etc/data-link", "/data/sub");
            Write(view, "/etc/data-link/through-link", "via link");
            Assert.Throws<IOException>(() => view.Rename("/data/new.txt", "/etc/new.txt"));
            Assert.Throws<IOException>(() => view.CreateHardLink("/etc/hard", "/data/new.txt"));
            Assert.Throws<IOException>(() => view.Delete("/data"));
            Assert.Throws<IOException>(() => view.Rename("/data", "/data2"));
            view.Rename("/data/new.txt", "/data/renamed.txt");
            Assert.NotEqual(view.GetEntry("/data").Inode, view.GetEntry("/").Inode);
            view.Flush();
        }

        using Guest check = Guest.Open(disk, leaveOpen: true);
        IFileSystem data = check.OpenFileSystem(check.GetVolume("/dev/sda2"));
        IFileSystem root = check.OpenFileSystem(check.GetVolume("/dev/sda1"));
        Assert.Equal("into data", Read(data, "/renamed.txt"));
        Assert.Equal("via link", Read(data, "/sub/through-link"));
        Assert.False(root.Exists("/data/renamed.txt"));
        Assert.Empty(root.EnumerateDirectory("/data"));
    }

    [Fact]
    public void Open_SignaturesByContent_TypeUuidLabel()
    {
        var disk = new MemoryBlockDevice(8 << 20);
        using (Guest bare = Guest.Open(disk, leaveOpen: true))
        {
            GuestVolume v = Assert.Single(bare.Volumes);
            Assert.Equal(("/dev/sda", "unknown", GuestVolumeKind.Device), (v.Name, v.FileSystemTypeName, v.Kind));
            Assert.Empty(bare.Inspect());
        }

        byte[] page = new byte[4096];
        "SWAPSPACE2"u8.CopyTo(page.AsSpan(4086));
        Guid uuid = Guid.Parse("90b0ab6d-27de-4dc2-a2f7-9603b1c5a901");
        uuid.TryWriteBytes(page.AsSpan(1036), bigEndian: true, out _);
        "swap0"u8.CopyTo(page.AsSpan(1052));
        disk.Write(0, page);
        using (Guest swap = Guest.Open(disk, leaveOpen: true))
        {
            GuestVolume v = Assert.Single(swap.Volumes);
            Assert.Equal(("swap", "90b0ab6d-27de-4dc2-a2f7-9603b1c5a901", "swap0"), (v.FileSystemTypeName, v.Uuid, v.Label));
            Assert.Throws<NotSupportedException>(() => swap.OpenFileSystem(v));
        }

        Array.Clear(page);
        "LABELONE"u8.CopyTo(page.AsSpan(512));
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(512 + 8), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(512 + 20), 32);
        "LVM2 001"u8.CopyTo(page.AsSpan(512 + 24));
        "7ysqJZbF86RJSW6SySOC4cyde53knhJo"u8.CopyTo(page.AsSpan(512 + 32));
        disk.Write(0, page);
        using (Guest pv = Guest.Open(disk, leaveOpen: true))
        {
            GuestVolume v = Assert.Single(pv.Volumes);
            Assert.Equal((GuestFileSystemType.LvmPhysicalVolume, "lvm-pv", "7ysqJZbF86RJSW6SySOC4cyde53knhJo"), (v.FileSystemType, v.FileSystemTypeName, v.Uuid));
        }

        // A label whose sector number does not match where it lies is not a label.
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(512 + 8), 0);
        disk.Write(0, page);
        using (Guest notPv = Guest.Open(disk, leaveOpen: true))
        {
            Assert.Equal("unknown", Assert.Single(notPv.Volumes).FileSystemTypeName);
        }
    }

    [Fact]
    public void Open_PartitionOutsideTheDisk_InvalidData()
    {
        byte[] data = new byte[1 << 20];
        data[510] = 0x55;
        data[511] = 0xAA;
        data[0x1BE + 4] = 0x83;
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(0x1BE + 8), 2048);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(0x1BE + 12), 1_000_000);
        var disk = new MemoryBlockDevice(data, writable: false);
        Assert.Throws<InvalidDataException>(() => Guest.Open(disk, leaveOpen: true));
    }

    [Theory]
    [InlineData("ID=almalinux\nPRETTY_NAME=\"AlmaLinux 9.4\"\nVERSION_ID=\"9.4\"\n", "/etc/redhat-release", "AlmaLinux release 9.4 (Seafoam Ocelot)\n", "redhat-based", 9, 4, "AlmaLinux release 9.4 (Seafoam Ocelot)")]
    [InlineData("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n", "/etc/debian_version", "12.15\n", "debian", 12, 15, "12.15")]
    [InlineData("ID=rhel\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\nVERSION_ID=\"9.4\"\n", "/etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n", "rhel", 9, 4, "Red Hat Enterprise Linux 9.4 (Plow)")]
    [InlineData("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n", "/etc/nothing", "", "debian", 12, 0, "Debian GNU/Linux 12 (bookworm)")]
    public void ReleaseFacts_FollowLibguestfsOrder(string osRelease, string releaseFile, string releaseText, string distro, int major, int minor, string product)
    {
        var fs = new DiskImage.FileSystems.InMemory.InMemoryFileSystem();
        fs.CreateDirectory("/etc");
        Write(fs, "/etc/os-release", osRelease);
        if (releaseText.Length > 0)
        {
            Write(fs, releaseFile, releaseText);
        }

        GuestReleaseFacts.Facts facts = GuestReleaseFacts.Read(fs);
        Assert.Equal((distro, major, minor, product), (facts.Distro, facts.Major ?? 0, facts.Minor, facts.ProductName));
    }

    [Theory]
    [InlineData("my--vg-my--lv", "my-vg/my-lv")]
    [InlineData("vg-root", "vg/root")]
    [InlineData("novg", null)]
    [InlineData("a--b", null)]
    public void SplitMapperName_UndoublesDashes(string mapper, string? expected) =>
        Assert.Equal(expected, GuestDeviceResolver.SplitMapperName(mapper));

    [Fact]
    public void VersionComparer_OrdersLikeCompareVersion()
    {
        var names = new List<string> { "vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-57-amd64", "vmlinuz-0-rescue-abc", "vmlinuz-5.10.0-30-amd64", "vmlinuz-6.1.0-57-amd64+debug" };
        names.Sort(GuestVersionComparer.Instance);
        Assert.Equal(["vmlinuz-0-rescue-abc", "vmlinuz-5.10.0-30-amd64", "vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-57-amd64", "vmlinuz-6.1.0-57-amd64+debug"], names);
    }

    [Fact]
    public void Kernel_PairsByVersion_RescueAndDebugLast_UnpairedFallsBackToNewest()
    {
        var fs = new DiskImage.FileSystems.InMemory.InMemoryFileSystem();
        fs.CreateDirectory("/boot");
        foreach (string name in new[] { "vmlinuz-5.14.0-1.el9.x86_64", "initramfs-5.14.0-1.el9.x86_64.img", "vmlinuz-5.14.0-9.el9.x86_64", "initramfs-5.14.0-9.el9.x86_64kdump.img", "vmlinuz-0-rescue-0123", "initramfs-0-rescue-0123.img", ".vmlinuz-5.14.0-1.el9.x86_64.hmac" })
        {
            Write(fs, "/boot/" + name, "not a bzImage");
        }

        GuestKernel k = GuestKernel.Find(fs);
        Assert.Equal(("/boot/vmlinuz-5.14.0-1.el9.x86_64", "/boot/initramfs-5.14.0-1.el9.x86_64.img", "5.14.0-1.el9.x86_64", (string?)null), (k.KernelPath, k.InitrdPath, k.Version, k.VersionString));

        var lone = new DiskImage.FileSystems.InMemory.InMemoryFileSystem();
        lone.CreateDirectory("/boot");
        Write(lone, "/boot/vmlinuz-6.1.0-9-amd64", "x");
        Write(lone, "/boot/vmlinuz-6.1.0-10-amd64", "x");
        GuestKernel newest = GuestKernel.Find(lone);
        Assert.Equal(("/boot/vmlinuz-6.1.0-10-amd64", (string?)null), (newest.KernelPath, newest.InitrdPath));

        var none = new DiskImage.FileSystems.InMemory.InMemoryFileSystem();
        Assert.Null(GuestKernel.TryFind(none));
        Assert.Throws<FileNotFoundException>(() => GuestKernel.Find(none));
    }
}
