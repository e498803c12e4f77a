using System.Text.Json;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.FileSystems.Xfs;
using DiskImage.IO;
using DiskImage.OpenStack.Build;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.OpenStack.Build;

/// <summary>
/// <c>overcloud build</c> from a small generated guest (MBR + XFS root, qcow2, made by our writers), judged by
/// qemu-img check, xfs_repair -n, blkid and the reader's tree against the same customizations applied in memory.
/// </summary>
public sealed class OvercloudBuildTests
{
    private const long Epoch = 1_700_000_000;

    [SkippableFact]
    public async Task Build_PartitionImageKernelInitrd_CheckedByRealTools_Reproducible_RerunCurrent()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("xfs_repair");
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        string baseSha = OvercloudBuildFixture.Sha256(baseImage);
        OvercloudRecipe recipe = OvercloudRecipe.Parse(OvercloudBuildFixture.Recipe);
        var messages = new List<string>();
        OvercloudBuildResult first = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out1"), SourceDateEpoch = Epoch },
            new SyncProgress(p => messages.Add(p.ToString())));

        // The base is untouched.
        Assert.Equal(baseSha, OvercloudBuildFixture.Sha256(baseImage));

        Assert.Equal(["overcloud-full.qcow2", "overcloud-full.vmlinuz", "overcloud-full.initrd", "ironic-python-agent.kernel", "ironic-python-agent.initramfs"], first.Outputs.Select(o => o.File));
        Assert.All(first.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        Assert.False(first.AnySkipped);
        Assert.Equal(["ironic-python-agent.initramfs", "ironic-python-agent.kernel", "overcloud-build.json", "overcloud-full.initrd", "overcloud-full.qcow2", "overcloud-full.vmlinuz"],
            Directory.GetFiles(dir.File("out1")).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // The ramdisk image: the guest's kernel, and an initramfs GNU cpio lists with /init and the recipe's program.
        Assert.Equal(File.ReadAllBytes(dir.File("out1/overcloud-full.vmlinuz")), File.ReadAllBytes(dir.File("out1/ironic-python-agent.kernel")));
        if (Oracle.Find("cpio") is not null)
        {
            string cpioArchive = dir.File("agent.cpio");
            using (var gz = new System.IO.Compression.GZipStream(File.OpenRead(dir.File("out1/ironic-python-agent.initramfs")), System.IO.Compression.CompressionMode.Decompress))
            using (FileStream plain = File.Create(cpioArchive))
            {
                gz.CopyTo(plain);
            }

            ToolResult listing = Oracle.Run("sh", "-c", $"cpio -it --quiet < '{cpioArchive}'");
            Assert.True(listing.ExitCode == 0, listing.ToString());
            string[] names = listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("init", names);
            Assert.Contains("usr/bin/sh", names);
            Assert.Contains("dev/console", names);
        }

        // qcow2 clean and compressed; its content is an XFS labelled img-rootfs that xfs_repair finds clean.
        string qcow2 = dir.File("out1/overcloud-full.qcow2");
        ToolResult check = Oracle.Run("qemu-img", "check", qcow2);
        Assert.True(check.ExitCode == 0, check.ToString());
        using (JsonDocument checkJson = JsonDocument.Parse(Oracle.RunOk("qemu-img", "check", "--output=json", qcow2).StandardOutput))
        {
            Assert.True(checkJson.RootElement.GetProperty("compressed-clusters").GetInt64() > 0, "the qcow2 clusters are compressed");
        }

        string raw = dir.File("rootfs.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", qcow2, raw);
        ToolResult repair = Oracle.Run("xfs_repair", "-n", "-f", raw);
        Assert.True(repair.ExitCode == 0, repair.ToString());
        if (Oracle.Find("blkid") is not null)
        {
            ToolResult blkid = Oracle.Run("blkid", "-p", "-o", "export", raw);
            Assert.Contains("LABEL=img-rootfs", blkid.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("TYPE=xfs", blkid.StandardOutput, StringComparison.Ordinal);
        }

        // The tree equals the customized and sysprepped guest; fstab mounts / by the label.
        using (var device = FileBlockDevice.Open(raw))
        using (XfsFileSystem xfs = XfsFileSystem.Open(device))
        using (InMemoryFileSystem expected = OvercloudBuildFixture.ExpectedTree(recipe))
        {
            Assert.Equal("img-rootfs", xfs.Label);
            Assert.Equal(OvercloudBuildFixture.Listing(expected, "/etc/fstab"), OvercloudBuildFixture.Listing(xfs, "/etc/fstab"));
            Assert.Equal(
                "# static file system information\nLABEL=img-rootfs / xfs defaults 0 1\ntmpfs /tmp tmpfs defaults 0 0\n",
                OvercloudBuildFixture.ReadText(xfs, "/etc/fstab"));
            Assert.Equal("overcloud\n", OvercloudBuildFixture.ReadText(xfs, "/etc/hostname"));
            Assert.Equal("uninitialized\n", OvercloudBuildFixture.ReadText(xfs, "/etc/machine-id"));
            Assert.False(xfs.Exists("/var/log/messages") || xfs.Exists("/var/lib/systemd/random-seed") || xfs.Exists("/home/user/.bash_history"));
            Assert.True(xfs.Exists("/opt/marker"));
            UnixFileInfo motd = xfs.GetEntry("/etc/motd");
            Assert.True(motd.ModificationTime.Seconds <= Epoch && motd.ChangeTime.Seconds <= Epoch, "timestamps are clamped to SOURCE_DATE_EPOCH");
        }

        // Kernel and initrd are the guest's own files.
        using (InMemoryFileSystem tree = OvercloudBuildFixture.Tree())
        {
            Assert.Equal(ReadAll(tree, "/boot/vmlinuz-" + OvercloudBuildFixture.KernelVersion), File.ReadAllBytes(dir.File("out1/overcloud-full.vmlinuz")));
            Assert.Equal(ReadAll(tree, "/boot/initrd.img-" + OvercloudBuildFixture.KernelVersion), File.ReadAllBytes(dir.File("out1/overcloud-full.initrd")));
        }

        // The manifest records every written file.
        using (JsonDocument manifest = JsonDocument.Parse(File.ReadAllBytes(first.ManifestPath)))
        {
            var files = manifest.RootElement.GetProperty("files").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!);
            Assert.Equal(5, files.Count);
            foreach (OvercloudBuildOutput o in first.Outputs.Take(3))
            {
                Assert.Equal(OvercloudBuildFixture.Sha256(o.Path), files[o.File].GetProperty("sha256").GetString());
                Assert.Equal(new FileInfo(o.Path).Length, files[o.File].GetProperty("size").GetInt64());
                Assert.Equal(o.Format, files[o.File].GetProperty("format").GetString());
                Assert.Equal(first.InputHash, files[o.File].GetProperty("input-hash").GetString());
                Assert.Equal(recipe.HashFor(recipe.Images[0]), files[o.File].GetProperty("recipe-hash").GetString());
            }
        }

        // Same inputs and SOURCE_DATE_EPOCH: byte-identical files.
        OvercloudBuildResult second = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out2"), SourceDateEpoch = Epoch, Images = ["overcloud-full"] });
        Assert.Equal(3, second.Outputs.Count);
        foreach (OvercloudBuildOutput o in second.Outputs)
        {
            Assert.Equal(OvercloudBuildAction.Built, o.Action);
            Assert.True(File.ReadAllBytes(o.Path).AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("out1/" + o.File))), o.File + " differs between two builds");
        }

        // A rerun finds the files current and leaves them alone; a changed file is rebuilt.
        DateTime written = File.GetLastWriteTimeUtc(qcow2);
        OvercloudBuildResult rerun = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out1"), SourceDateEpoch = Epoch, Images = ["overcloud-full"] });
        Assert.All(rerun.Outputs, o => Assert.Equal(OvercloudBuildAction.Current, o.Action));
        Assert.Equal(written, File.GetLastWriteTimeUtc(qcow2));
        File.WriteAllBytes(dir.File("out1/overcloud-full.initrd"), [1, 2, 3]);
        OvercloudBuildResult repaired = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out1"), SourceDateEpoch = Epoch, Images = ["overcloud-full"] });
        Assert.Equal([OvercloudBuildAction.Current, OvercloudBuildAction.Current, OvercloudBuildAction.Built], repaired.Outputs.Select(o => o.Action));
        Assert.Equal(written, File.GetLastWriteTimeUtc(qcow2));
        Assert.Equal(File.ReadAllBytes(dir.File("out2/overcloud-full.initrd")), File.ReadAllBytes(dir.File("out1/overcloud-full.initrd")));

        // Another SOURCE_DATE_EPOCH is another input: nothing is current.
        OvercloudBuildResult other = await OvercloudBuilder.BuildAsync(recipe,
            new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out1"), SourceDateEpoch = Epoch + 1, Images = ["overcloud-full"] });
        Assert.All(other.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        Assert.Equal(baseSha, OvercloudBuildFixture.Sha256(baseImage));
        Assert.Contains(messages, m => m.Contains("building the xfs file system", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData("building the xfs", new string[0])]
    // The qcow2 is converted in the background and committed after the other files: cancelling while the initrd is
    // copied stops its conversion too, and leaves only the kernel (and the manifest naming it).
    [InlineData("copying /boot/initrd", new[] { "overcloud-build.json", "overcloud-full.vmlinuz" })]
    [InlineData("writing compressed qcow2", new string[0])]
    public async Task Cancelled_LeavesNoPartialFile_NextRunCompletes(string cancelAt, string[] expectedFiles)
    {
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        string baseSha = OvercloudBuildFixture.Sha256(baseImage);
        OvercloudRecipe recipe = OvercloudRecipe.Parse(OvercloudBuildFixture.Recipe);
        using var cts = new CancellationTokenSource();
        var options = new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch, Images = ["overcloud-full"] };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OvercloudBuilder.BuildAsync(recipe, options,
            new SyncProgress(p =>
            {
                if (p.Message.StartsWith(cancelAt, StringComparison.Ordinal))
                {
                    cts.Cancel();
                }
            }), cts.Token));
        Assert.Equal(expectedFiles, Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(baseSha, OvercloudBuildFixture.Sha256(baseImage));

        OvercloudBuildResult next = await OvercloudBuilder.BuildAsync(recipe, options);
        Assert.Equal(Math.Max(0, expectedFiles.Length - 1), next.Outputs.Count(o => o.Action == OvercloudBuildAction.Current));
        Assert.Equal(["overcloud-build.json", "overcloud-full.initrd", "overcloud-full.qcow2", "overcloud-full.vmlinuz"],
            Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void Ext4Raw_E2fsckClean_AndLeftoverTemporaryFilesRemoved()
    {
        Oracle.Require("e2fsck");
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        Directory.CreateDirectory(dir.File("out"));
        File.WriteAllText(dir.File("out/.root.img.tmp-0123"), "left by a killed run");
        File.WriteAllText(dir.File("out/..root.img.tmp-0123.4567.tmp"), "left by a conversion a killed run was writing");
        OvercloudRecipe recipe = OvercloudRecipe.Parse("images:\n  - name: root\n    type: partition\n    file-system: ext4\n    format: raw\n    image: root.img\n    kernel: false\n    initrd: false\n");
        OvercloudBuildResult r = OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out") }).GetAwaiter().GetResult();
        OvercloudBuildOutput o = Assert.Single(r.Outputs);
        Assert.Equal(("root.img", "raw", OvercloudBuildAction.Built), (o.File, o.Format, o.Action));
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", o.Path);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        ToolResult label = Oracle.Run("e2label", o.Path);
        Assert.Equal("img-rootfs", label.StandardOutput.Trim());
        Assert.Equal(["overcloud-build.json", "root.img"], Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task FailingLaterImage_StopsTheBackgroundConversion_NoPartialQcow2_ScratchEmpty()
    {
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        OvercloudRecipe recipe = OvercloudRecipe.Parse(OvercloudBuildFixture.Recipe.Replace("binaries: [sh]", "binaries: [no-such-program]", StringComparison.Ordinal));
        var messages = new List<string>();
        var options = new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out"), TemporaryDirectory = dir.File("scratch"), SourceDateEpoch = Epoch };
        Directory.CreateDirectory(dir.File("scratch"));
        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => OvercloudBuilder.BuildAsync(recipe, options, new SyncProgress(p => messages.Add(p.ToString()))));
        Assert.Contains("no-such-program", e.Message, StringComparison.Ordinal);

        // The qcow2's conversion had started before the ramdisk failed; it is neither committed nor left half-written.
        Assert.Contains(messages, m => m.Contains("writing compressed qcow2 (deflate level 3)", StringComparison.Ordinal));
        Assert.Equal(["overcloud-build.json", "overcloud-full.initrd", "overcloud-full.vmlinuz"],
            Directory.GetFiles(dir.File("out")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("scratch")));
    }

    [Fact]
    public async Task Refusals_UnknownImage_MissingBase_NoOperatingSystem()
    {
        using var dir = new TempDirectory();
        OvercloudRecipe recipe = OvercloudRecipe.Default;
        await Assert.ThrowsAsync<FileNotFoundException>(() => OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = dir.File("absent.qcow2"), OutputDirectory = dir.Path }));
        File.WriteAllBytes(dir.File("empty.raw"), new byte[1 << 20]);
        ArgumentException e = await Assert.ThrowsAsync<ArgumentException>(() => OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = dir.File("empty.raw"), OutputDirectory = dir.Path, Images = ["nope"] }));
        Assert.Contains("overcloud-full", e.Message, StringComparison.Ordinal);
        InvalidDataException none = await Assert.ThrowsAsync<InvalidDataException>(() => OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = dir.File("empty.raw"), OutputDirectory = dir.File("out"), Images = ["overcloud-full"] }));
        Assert.Contains("no operating system", none.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir.File("out")));
    }

    [SkippableFact]
    public void Cli_AllWithJson_ExitCodes()
    {
        Oracle.Require("qemu-img");
        using var dir = new TempDirectory();
        string baseImage = dir.File("base.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage);
        File.WriteAllText(dir.File("recipe.yaml"), OvercloudBuildFixture.Recipe);
        CliResult all = CliHarness.Run("overcloud", "build", "--all", "--base", baseImage, "--recipe", dir.File("recipe.yaml"), "-o", dir.File("out"), "--output=json", "--tmpdir", dir.File("scratch"));
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(dir.File("scratch")));
        using (JsonDocument doc = JsonDocument.Parse(all.StandardOutput))
        {
            Assert.Equal(["built", "built", "built", "built", "built"], doc.RootElement.GetProperty("outputs").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
            Assert.Equal(64, doc.RootElement.GetProperty("outputs")[0].GetProperty("sha256").GetString()!.Length);
        }

        CliResult named = CliHarness.Run("overcloud", "build", "overcloud-full", "--base", baseImage, "--recipe", dir.File("recipe.yaml"), "-o", dir.File("out"));
        Assert.True(named.ExitCode == 0, named.ToString());
        Assert.Equal(3, named.StandardOutput.Split('\n').Count(l => l.Contains(" current ", StringComparison.Ordinal)));

        Assert.Equal(1, CliHarness.Run("overcloud", "build", "--base", baseImage).ExitCode);
        Assert.Equal(1, CliHarness.Run("overcloud", "build", "--all", "overcloud-full", "--base", baseImage).ExitCode);
        Assert.Equal(1, CliHarness.Run("overcloud", "build", "--all", "--base", baseImage, "--save-base", dir.File("kept.qcow2")).ExitCode);
        Assert.Equal(1, CliHarness.Run("overcloud", "build", "--all", "--base-tree", dir.File("absent-tree"), "-o", dir.File("out")).ExitCode);
        CliResult missing = CliHarness.Run("overcloud", "build", "--all", "--base", dir.File("absent.qcow2"), "-o", dir.File("out"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("absent.qcow2: the base image does not exist", missing.StandardError, StringComparison.Ordinal);
        File.WriteAllText(dir.File("bad.yaml"), "images:\n  - name: a\n    type: nope\n");
        CliResult bad = CliHarness.Run("overcloud", "build", "--all", "--base", baseImage, "--recipe", dir.File("bad.yaml"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("bad.yaml:3:11:", bad.StandardError, StringComparison.Ordinal);
        CliResult printed = CliHarness.RunOk("overcloud", "build", "--print-default-recipe");
        Assert.Equal(OvercloudRecipe.DefaultText, printed.StandardOutput);
    }

    [SkippableFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Debootstrap_MbrXfsGuest_PartitionImageEqualsTheTreeExceptWhatTheRecipeChanged()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("qemu-img");
        Oracle.Require("xfs_repair");
        using var dir = new TempDirectory();
        string baseImage = dir.File("debian.qcow2");
        OvercloudBuildFixture.WriteBaseImage(baseImage, new HostDirectoryFileSystem(tree));
        string baseSha = OvercloudBuildFixture.Sha256(baseImage);
        OvercloudRecipe recipe = OvercloudRecipe.Parse("""
            customize:
              - hostname: overcloud
              - write: "/boot/vmlinuz-6.1.0-99-amd64:kernel bytes"
              - write: "/boot/initrd.img-6.1.0-99-amd64:initrd bytes"
            sysprep:
              operations: defaults,random-seed
            images:
              - name: overcloud-full
                type: partition
            """);
        OvercloudBuildResult result = await OvercloudBuilder.BuildAsync(recipe, new OvercloudBuildOptions { BaseImage = baseImage, OutputDirectory = dir.File("out"), SourceDateEpoch = Epoch });
        Assert.All(result.Outputs, o => Assert.Equal(OvercloudBuildAction.Built, o.Action));
        Assert.Equal(baseSha, OvercloudBuildFixture.Sha256(baseImage));
        Assert.Equal("kernel bytes", File.ReadAllText(dir.File("out/overcloud-full.vmlinuz")));
        Assert.Equal("initrd bytes", File.ReadAllText(dir.File("out/overcloud-full.initrd")));
        string qcow2 = dir.File("out/overcloud-full.qcow2");
        ToolResult check = Oracle.Run("qemu-img", "check", qcow2);
        Assert.True(check.ExitCode == 0, check.ToString());
        string raw = dir.File("rootfs.raw");
        Oracle.RunOk("qemu-img", "convert", "-O", "raw", qcow2, raw);
        ToolResult repair = Oracle.Run("xfs_repair", "-n", "-f", raw);
        Assert.True(repair.ExitCode == 0, repair.ToString());

        // What sysprep changes is listed by a dry run on the tree; everything else is the tree as it was.
        using var host = new HostDirectoryFileSystem(tree);
        var changed = new HashSet<string>(StringComparer.Ordinal) { "/etc/fstab", "/etc/hostname", "/etc/hosts", "/boot/vmlinuz-6.1.0-99-amd64", "/boot/initrd.img-6.1.0-99-amd64" };
        foreach (DiskImage.Sysprep.SysprepChange c in DiskImage.Sysprep.SysprepRunner.Run(host, new DiskImage.Sysprep.SysprepOptions { Operations = DiskImage.Sysprep.SysprepSelection.ParseOperations("defaults,random-seed"), DryRun = true }).Changes)
        {
            changed.Add(c.Path);
        }

        using var device = FileBlockDevice.Open(raw);
        using XfsFileSystem xfs = XfsFileSystem.Open(device);
        List<string> ours = OvercloudBuildFixture.Listing(xfs, [.. changed]);
        List<string> theirs = OvercloudBuildFixture.Listing(host, [.. changed]);
        Assert.True(ours.Count > 1000, $"{ours.Count} entries");
        Assert.Equal(theirs.Where(l => !changed.Any(c => l.StartsWith(c + "/", StringComparison.Ordinal))), ours.Where(l => !changed.Any(c => l.StartsWith(c + "/", StringComparison.Ordinal))));
        Assert.StartsWith("LABEL=img-rootfs / xfs ", OvercloudBuildFixture.ReadText(xfs, "/etc/fstab").Split('\n').First(l => l.Length > 0 && l[0] != '#'), StringComparison.Ordinal);
        Assert.Equal("overcloud\n", OvercloudBuildFixture.ReadText(xfs, "/etc/hostname"));
    }

    private static byte[] ReadAll(IFileSystem fs, string path)
    {
        using Stream s = fs.OpenFile(path, FileMode.Open, FileAccess.Read);
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    /// <summary>Reports synchronously on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<OvercloudBuildProgress> action) : IProgress<OvercloudBuildProgress>
    {
        public void Report(OvercloudBuildProgress value) => action(value);
    }
}
