using System.Runtime.Versioning;
using System.Text;
using DiskImage.Archives.Cpio;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Archives;

/// <summary>
/// <see cref="GuestRamdiskBuilder"/> against independent judges: the guest's own <c>ld.so --list</c> (the closure of
/// shared libraries), the ramdisk's <c>ld.so</c> and the program itself run in a chroot of the unpacked ramdisk,
/// kmod's <c>modprobe --show-depends</c> (module dependencies), GNU <c>cpio</c> and Debian's <c>lsinitramfs</c>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class GuestRamdiskTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Epoch = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    [SkippableTheory]
    [InlineData("bash")]
    [InlineData("ls")]
    [InlineData("apt-get")]
    [InlineData("mount")]
    [InlineData("gpgv")]
    public async Task Binary_LibraryClosure_EqualsGuestLdSoList(string binary)
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string cpio = Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string image = tmp.File("ramdisk.cpio");
        using (var guest = new HostDirectoryFileSystem(tree))
        await using (var fs = File.Create(image))
        {
            await GuestRamdiskBuilder.BuildAsync(guest, new GuestRamdiskOptions { Binaries = [binary], BaseLayout = false, Compression = InitramfsCompression.None, ModificationTime = Epoch }, fs);
        }

        // GNU cpio lists the archive; its regular files are the program and its libraries.
        ToolResult list = Oracle.Run("sh", ["-c", $"{cpio} -itv --quiet < {CpioTestSupport.Quote(image)}"], TimeSpan.FromSeconds(30));
        Assert.True(list.ExitCode == 0, list.ToString());
        var archiveFiles = list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('-')).Select(l => l[(l.LastIndexOf(' ') + 1)..]).ToHashSet(StringComparer.Ordinal);

        // The guest's own loader lists what it loads for the program (transitively), found in the guest's directories.
        string guestLdSo = Path.Combine(tree, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        string libraryPath = $"{tree}/lib/x86_64-linux-gnu:{tree}/usr/lib/x86_64-linux-gnu";
        string program = $"/usr/bin/{binary}";
        ToolResult ldso = Oracle.Run(guestLdSo, ["--library-path", libraryPath, "--list", tree + program], TimeSpan.FromSeconds(30));
        Assert.True(ldso.ExitCode == 0, ldso.ToString());
        Assert.DoesNotContain("not found", ldso.StandardOutput, StringComparison.Ordinal);
        var expectedInodes = new HashSet<long>();
        using (var guest = new HostDirectoryFileSystem(tree))
        {
            expectedInodes.Add(guest.GetEntry(FollowInside(guest, program)).Inode);
            foreach (string line in ldso.StandardOutput.Split('\n'))
            {
                int arrow = line.IndexOf("=> ", StringComparison.Ordinal);
                if (arrow < 0)
                {
                    continue;
                }

                string path = line[(arrow + 3)..line.LastIndexOf(" (", StringComparison.Ordinal)];
                Assert.StartsWith(tree + "/", path, StringComparison.Ordinal);
                expectedInodes.Add(guest.GetEntry(FollowInside(guest, path[tree.Length..])).Inode);
            }

            var actualInodes = archiveFiles.Select(f => guest.GetEntry("/" + f).Inode).ToHashSet();
            output.WriteLine($"{binary}: {archiveFiles.Count} files: {string.Join(' ', archiveFiles.Order(StringComparer.Ordinal))}");
            Assert.Equal(expectedInodes.Order(), actualInodes.Order());
            Assert.Equal(archiveFiles.Count, actualInodes.Count);
        }

        // The unpacked ramdisk alone runs the program: its ld.so finds every library inside it.
        string root = Path.Combine(tmp.Path, "root");
        Directory.CreateDirectory(root);
        ToolResult unpack = Oracle.Run("sh", ["-c", $"cd {CpioTestSupport.Quote(root)} && {cpio} -idm --quiet < {CpioTestSupport.Quote(image)}"], TimeSpan.FromSeconds(30));
        Assert.True(unpack.ExitCode == 0, unpack.ToString());
        Skip.IfNot(Environment.UserName == "root" || Oracle.Required, "chroot needs root");
        ToolResult inner = Oracle.Run("chroot", [root, "/lib64/ld-linux-x86-64.so.2", "--list", program], TimeSpan.FromSeconds(30));
        Assert.True(inner.ExitCode == 0 && !inner.StandardOutput.Contains("not found", StringComparison.Ordinal), inner.ToString());
        ToolResult run = Oracle.Run("chroot", [root, program, "--version"], TimeSpan.FromSeconds(30));
        // (apt-get exits 100 without its configuration, after printing its version: the libraries were loaded.)
        Assert.DoesNotContain("error while loading shared libraries", run.StandardError, StringComparison.Ordinal);
        Assert.True(run.ExitCode == 0 || (run.ExitCode != 127 && run.StandardOutput.Length > 0), run.ToString());
    }

    [SkippableFact]
    public void Modules_WithDependenciesAndSoftdeps_EqualModprobeShowDepends()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string modprobe = Oracle.Require("modprobe");
        string version = HostKernelVersion();
        string[] names = ["virtio_blk", "fs-ext4", "loop"];
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            ToolResult r = Oracle.Run(modprobe, ["-S", version, "--show-depends", name], TimeSpan.FromSeconds(30));
            Assert.True(r.ExitCode == 0, r.ToString());
            foreach (string line in r.StandardOutput.Split('\n'))
            {
                if (line.StartsWith("insmod ", StringComparison.Ordinal))
                {
                    expected.Add(line[7..].Trim().Replace("/lib/modules/", "usr/lib/modules/", StringComparison.Ordinal));
                }
            }
        }

        Assert.NotEmpty(expected);
        using var guest = PlantHostModules(tree);
        GuestRamdiskTree ramdisk = GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Modules = names, BaseLayout = false }, 0, default);
        var modules = ramdisk.EnumerateItems().Where(i => i.Path.Contains(".ko", StringComparison.Ordinal)).Select(i => i.Path).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(expected.Order(StringComparer.Ordinal), modules.Order(StringComparer.Ordinal));

        // The merged-/usr chain and the index files come along; a module built in or unknown behaves as modprobe says.
        Assert.True(ramdisk.Contains("lib"));
        Assert.True(ramdisk.Contains($"usr/lib/modules/{version}/modules.dep"));
        Assert.True(ramdisk.Contains($"usr/lib/modules/{version}/modules.dep.bin"));
        Assert.Throws<FileNotFoundException>(() => GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Modules = ["no_such_module_xyz"] }, 0, default));
        using var bare = new HostDirectoryFileSystem(tree);
        Assert.Throws<FileNotFoundException>(() => GuestRamdiskBuilder.Assemble(bare, new GuestRamdiskOptions { Modules = ["loop"] }, 0, default));
    }

    [SkippableFact]
    public async Task Gzip_ListedByLsinitramfs_AndReproducible()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string lsinitramfs = Oracle.Require("lsinitramfs");
        using var tmp = new TempDirectory();
        var options = new GuestRamdiskOptions
        {
            Binaries = ["bash", "/usr/bin/cat"],
            Trees = ["/etc/apt"],
            InitScript = "#!/bin/sh\necho hello\n",
            ExtraFiles = [GuestRamdiskFile.FromContent("x\n"u8.ToArray(), "/etc/marker"), GuestRamdiskFile.FromGuest("/etc/os-release", "/bin/os-release-copy")],
            ModificationTime = Epoch,
        };
        byte[][] images = new byte[2][];
        for (int i = 0; i < 2; i++)
        {
            using var guest = new HostDirectoryFileSystem(tree);
            using var ms = new MemoryStream();
            await GuestRamdiskBuilder.BuildAsync(guest, options, ms);
            images[i] = ms.ToArray();
        }

        Assert.Equal(images[0], images[1]);
        string image = tmp.File("ramdisk.gz");
        await File.WriteAllBytesAsync(image, images[0]);
        ToolResult r = Oracle.Run(lsinitramfs, [image], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        var theirs = r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        var ours = new List<string>();
        await using (var fs = File.OpenRead(image))
        {
            using var reader = new InitramfsReader(fs);
            while (reader.GetNextEntry() is { } entry)
            {
                ours.Add(entry.Name);
                Assert.Equal(0u, entry.Uid);
                Assert.Equal(Epoch, entry.ModificationTime);
            }
        }

        Assert.Equal(ours, theirs);
        // /bin is a symbolic link in the guest, so the copy lands in usr/bin; dash comes as the script's interpreter.
        Assert.Contains("usr/bin/os-release-copy", theirs);
        Assert.DoesNotContain("bin/os-release-copy", theirs);
        Assert.Contains("usr/bin/dash", theirs);
        Assert.Contains("bin", theirs);
        Assert.Contains("etc/apt/sources.list.d", theirs);
        Assert.Contains("dev/console", theirs);
        Assert.Contains("init", theirs);
    }

    [SkippableFact]
    public async Task SymbolicLinksPointingOutside_ResolveInsideTheGuest_NeverReachTheHost()
    {
        using var tmp = new TempDirectory();
        string root = Path.Combine(tmp.Path, "guest");
        Directory.CreateDirectory(Path.Combine(root, "usr/bin"));
        File.CreateSymbolicLink(Path.Combine(root, "usr/bin/abs"), "/etc/hostname");
        File.CreateSymbolicLink(Path.Combine(root, "usr/bin/rel"), "../../../../../../etc/hostname");
        Skip.IfNot(File.Exists("/etc/hostname"), "the host has no /etc/hostname");
        foreach (string link in (string[])["/usr/bin/abs", "/usr/bin/rel"])
        {
            using var guest = new HostDirectoryFileSystem(root);
            await Assert.ThrowsAsync<FileNotFoundException>(() => GuestRamdiskBuilder.BuildAsync(guest, new GuestRamdiskOptions { Binaries = [link] }, Stream.Null));
        }

        // Once the guest has its own /etc/hostname, that one (not the host's) is what the links reach.
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        await File.WriteAllTextAsync(Path.Combine(root, "etc/hostname"), "#!/bin/guest-shell\n");
        using (var guest = new HostDirectoryFileSystem(root))
        {
            var ex = await Assert.ThrowsAsync<FileNotFoundException>(() => GuestRamdiskBuilder.BuildAsync(guest, new GuestRamdiskOptions { Binaries = ["/usr/bin/rel"] }, Stream.Null));
            Assert.Contains("guest-shell", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CraftedElf_BothClassesAndByteOrders_ResolvedLikeLdSo()
    {
        foreach ((bool is64, bool big, ushort machine) in new[] { (false, true, (ushort)20), (true, false, (ushort)62), (true, true, (ushort)22), (false, false, (ushort)3) })
        {
            var guest = new InMemoryFileSystem();
            foreach (string d in (string[])["/etc", "/lib", "/usr", "/usr/lib", "/opt", "/opt/lib", "/app", "/app/bin", "/app/private"])
            {
                guest.CreateDirectory(d);
            }

            Write(guest, "/etc/ld.so.conf", Encoding.ASCII.GetBytes("# comment\ninclude ld.so.conf.d/*.conf\n"));
            guest.CreateDirectory("/etc/ld.so.conf.d");
            Write(guest, "/etc/ld.so.conf.d/opt.conf", Encoding.ASCII.GetBytes("/opt/lib\n"));
            Write(guest, "/lib/ld.so.1", TestElf.Build(is64, big, machine));
            // An object of another class/machine first in the search order is skipped, as ld.so skips it.
            Write(guest, "/opt/lib/libfoo.so.1", TestElf.Build(!is64, big, machine));
            Write(guest, "/usr/lib/libfoo.so.1.2", TestElf.Build(is64, big, machine, needed: ["libbar.so"]));
            guest.CreateSymbolicLink("/usr/lib/libfoo.so.1", "libfoo.so.1.2");
            Write(guest, "/opt/lib/libbar.so", TestElf.Build(is64, big, machine));
            Write(guest, "/app/private/libpriv.so", TestElf.Build(is64, big, machine));
            Write(guest, "/app/bin/prog", TestElf.Build(is64, big, machine, interpreter: "/lib/ld.so.1", needed: ["libfoo.so.1", "libpriv.so"], runPath: "$ORIGIN/../private"));
            guest.SetMode("/app/bin/prog", (UnixFileMode)0x1ED);

            GuestRamdiskTree tree = GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Binaries = ["/app/bin/prog"], BaseLayout = false }, 0, default);
            var paths = tree.EnumerateItems().Where(i => i.EntryType != CpioEntryType.Directory).Select(i => i.Path).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(["app/bin/prog", "app/private/libpriv.so", "lib/ld.so.1", "opt/lib/libbar.so", "usr/lib/libfoo.so.1", "usr/lib/libfoo.so.1.2"], paths);
        }
    }

    [Fact]
    public void HostileElf_RandomCorruptions_OnlyInvalidDataOrNotFound()
    {
        const int Seed = 1313;
        var random = new Random(Seed);
        byte[] good = TestElf.Build(true, false, 62, interpreter: "/lib/ld.so", needed: ["liba.so", "libb.so"], runPath: "/x:$ORIGIN");
        for (int round = 0; round < 400; round++)
        {
            byte[] bad = (byte[])good.Clone();
            int flips = 1 + random.Next(6);
            for (int f = 0; f < flips; f++)
            {
                bad[random.Next(bad.Length)] = (byte)random.Next(256);
            }

            if (random.Next(8) == 0)
            {
                Array.Resize(ref bad, random.Next(bad.Length));
            }

            var guest = new InMemoryFileSystem();
            guest.CreateDirectory("/bin");
            Write(guest, "/bin/prog", bad);
            try
            {
                GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Binaries = ["/bin/prog"] }, 0, default);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or FileNotFoundException or DirectoryNotFoundException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {Seed} round {round}: {e}");
            }
        }

        // Crafted: tables outside the file, a string table outside every segment, an unterminated name.
        foreach (byte[] hostile in TestElf.Hostile())
        {
            var guest = new InMemoryFileSystem();
            guest.CreateDirectory("/bin");
            Write(guest, "/bin/prog", hostile);
            Assert.Throws<InvalidDataException>(() => GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Binaries = ["/bin/prog"] }, 0, default));
        }
    }

    [SkippableFact]
    public async Task WholeTree_SameNamesAsFind()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        string cpio = Oracle.Require("cpio");
        using var tmp = new TempDirectory();
        string image = tmp.File("whole.cpio");
        using (var guest = new HostDirectoryFileSystem(tree))
        await using (var fs = File.Create(image))
        {
            await GuestRamdiskBuilder.BuildAsync(guest, new GuestRamdiskOptions { Trees = ["/"], BaseLayout = false, Compression = InitramfsCompression.None, ModificationTime = Epoch }, fs);
        }

        ToolResult theirs = CpioTestSupport.Shell($"cd {CpioTestSupport.Quote(tree)} && find . -mindepth 1 | sed 's|^./||' | LC_ALL=C sort");
        ToolResult ours = CpioTestSupport.Shell($"{cpio} -it --quiet < {CpioTestSupport.Quote(image)} | grep -vx '\\.' | LC_ALL=C sort");
        Assert.True(theirs.ExitCode == 0 && ours.ExitCode == 0, theirs.ToString() + ours);
        Assert.Equal(theirs.StandardOutput, ours.StandardOutput);
    }

    [Fact]
    public async Task Cancelled_ThrowsOperationCanceled()
    {
        var guest = new InMemoryFileSystem();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => GuestRamdiskBuilder.BuildAsync(guest, GuestRamdiskOptions.Default, Stream.Null, cts.Token));
    }

    [Fact]
    public void Modules_NewestVersion_AbsoluteOldStylePaths_AndEscapesRefused()
    {
        var guest = new InMemoryFileSystem();
        foreach (string d in (string[])["/lib", "/lib/modules", "/lib/modules/5.9.0", "/lib/modules/5.10.0", "/lib/modules/5.10.0/kernel"])
        {
            guest.CreateDirectory(d);
        }

        Write(guest, "/lib/modules/5.9.0/modules.dep", "kernel/a.ko:\n"u8.ToArray());
        Write(guest, "/lib/modules/5.10.0/modules.dep", "kernel/a-b.ko: /lib/modules/5.10.0/kernel/c.ko.xz\n/lib/modules/5.10.0/kernel/c.ko.xz:\n"u8.ToArray());
        Write(guest, "/lib/modules/5.10.0/modules.alias", "alias pci:v0000ABCDd* a_b\n"u8.ToArray());
        Write(guest, "/lib/modules/5.10.0/kernel/a-b.ko", [1]);
        Write(guest, "/lib/modules/5.10.0/kernel/c.ko.xz", [2]);
        GuestRamdiskTree tree = GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Modules = ["pci:v0000ABCDd00001234"], BaseLayout = false }, 0, default);
        var files = tree.EnumerateItems().Where(i => i.EntryType == CpioEntryType.RegularFile).Select(i => i.Path).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["lib/modules/5.10.0/kernel/a-b.ko", "lib/modules/5.10.0/kernel/c.ko.xz", "lib/modules/5.10.0/modules.alias", "lib/modules/5.10.0/modules.dep"], files);

        Write(guest, "/lib/modules/5.10.0/modules.dep", "kernel/a-b.ko: ../../../../etc/shadow\n"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Modules = ["a_b"] }, 0, default));
        Assert.Throws<ArgumentException>(() => GuestRamdiskBuilder.Assemble(guest, new GuestRamdiskOptions { Modules = ["a_b"], KernelVersion = "../x" }, 0, default));
    }

    [Fact]
    public void Glob_MatchesLikeFnmatch()
    {
        Assert.True(GlobMatcher.Matches("*.conf", "libc.conf"));
        Assert.False(GlobMatcher.Matches("*.conf", "libc.conf~"));
        Assert.True(GlobMatcher.Matches("pci:v00001AF4d*sv*", "pci:v00001AF4d00001001sv00001AF4"));
        Assert.True(GlobMatcher.Matches("a?c[0-9][!x]", "abc5y"));
        Assert.False(GlobMatcher.Matches("a?c[0-9][!x]", "abc5x"));
        Assert.True(GlobMatcher.Matches("fs-ext4", "fs-ext4"));
    }

    /// <summary>The host kernel's version (the one under /boot), whose modules are under /lib/modules.</summary>
    internal static string HostKernelVersion()
    {
        string kernel = InitramfsBootTests.RequireFile("/boot", "vmlinuz-*", "a kernel image (apt-get install linux-image-amd64)");
        string version = Path.GetFileName(kernel)["vmlinuz-".Length..];
        if (!File.Exists($"/lib/modules/{version}/modules.dep"))
        {
            if (Oracle.Required)
            {
                Assert.Fail($"/lib/modules/{version}/modules.dep is missing.");
            }

            throw new SkipException($"/lib/modules/{version}/modules.dep is missing.");
        }

        return version;
    }

    /// <summary>The debootstrap guest with the host's /lib/modules planted at its /usr/lib/modules (it has none of its own).</summary>
    internal static IFileSystem PlantHostModules(string tree) =>
        new PrefixOverlayFileSystem(new HostDirectoryFileSystem(tree), "/usr/lib/modules", new HostDirectoryFileSystem("/lib/modules"));

    /// <summary>Follows final symbolic links of <paramref name="path"/> inside <paramref name="fs"/> (intermediate ones the file system follows).</summary>
    private static string FollowInside(IFileSystem fs, string path)
    {
        for (int i = 0; i < 40; i++)
        {
            UnixFileInfo e = fs.GetEntry(path);
            if (e.Type != UnixFileType.SymbolicLink)
            {
                return path;
            }

            string target = e.LinkTarget!;
            path = target.StartsWith('/') ? target : path[..path.LastIndexOf('/')] + "/" + target;
        }

        throw new IOException("link loop");
    }

    private static void Write(InMemoryFileSystem fs, string path, byte[] content)
    {
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(content);
    }
}
