using System.Globalization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.Host;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Sysprep;
using DiskImage.Tests.FileSystems.Conformance;
using DiskImage.Tests.Oracles;
using Xunit.Abstractions;

namespace DiskImage.Tests.Sysprep;

/// <summary>
/// Acceptance 1 of issue 12: debootstrap-based ext4 images with planted identifiers in Debian and RHEL layouts are
/// sysprepped by us and by virt-sysprep (one appliance boot for both disks) with the same operations; the trees must
/// be equal except for the deliberate differences listed in docs/sysprep.md.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SysprepVirtSysprepParityTests
{
    private readonly ITestOutputHelper _output;

    public SysprepVirtSysprepParityTests(ITestOutputHelper output) => _output = output;

    /// <summary>Builds an ext4 image of the debootstrap tree with the layout's planted identifiers.</summary>
    internal static void BuildPlantedImage(string tree, PlantedLayout layout, string image, Guid uuid)
    {
        var mem = new InMemoryFileSystem();
        using (var host = new HostDirectoryFileSystem(tree))
        {
            FileSystemCopy.Copy(host, "/", mem, "/");
        }

        SysprepPlantedTree.Write(mem, "/etc/passwd", SysprepPlantedTree.Read(mem, "/etc/passwd") + "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n");
        SysprepPlantedTree.Write(mem, "/etc/shadow", SysprepPlantedTree.Read(mem, "/etc/shadow") + "alice:!:19000:0:99999:7:::\n", 0x1A0);
        SysprepPlantedTree.Write(mem, "/etc/group", SysprepPlantedTree.Read(mem, "/etc/group") + "alice:x:1000:\n");
        SysprepPlantedTree.Plant(mem, layout);
        var options = new Ext4BuildOptions { ExtraPercent = 20, ExtraBytes = 16 << 20, Format = new Ext4FormatOptions { Uuid = uuid } };
        long size = Ext4FileSystem.ComputeBuildSize(mem, options);
        using var device = FileBlockDevice.Create(image, size);
        Ext4FileSystem.Build(device, mem, options);
    }

    [SkippableFact]
    [Trait("Category", "VirtSysprep")]
    public void Sysprep_PlantedDebianAndRhelImages_SameTreesAsVirtSysprep()
    {
        Oracle.Require("virt-sysprep");
        Oracle.Require("e2fsck");
        string tree = Fixtures.RequireDebootstrapTree();
        Skip.IfNot(HostFiles.IsRoot, "Reading the whole debootstrap tree needs root.");
        using var temp = new TempDirectory();
        PlantedLayout[] layouts = [PlantedLayout.Debian, PlantedLayout.Rhel];
        foreach (PlantedLayout layout in layouts)
        {
            BuildPlantedImage(tree, layout, temp.File($"ours-{layout}.img"), Guid.NewGuid());
            File.Copy(temp.File($"ours-{layout}.img"), temp.File($"theirs-{layout}.img"));
        }

        // The operations both sides have, that act on files (ca-certificates would run update-ca-trust in the guest).
        ToolResult list = Oracle.Run("virt-sysprep", "--list-operations");
        var theirs = new HashSet<string>(list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]), StringComparer.Ordinal);
        string[] skipped = ["customize", "script", "lvm-uuids", "fs-uuids", "ca-certificates"];
        string operations = string.Join(',', SysprepOperations.All.Where(o => !o.IsExtra && theirs.Contains(o.Name) && !skipped.Contains(o.Name)).Select(o => o.Name));
        _output.WriteLine($"{Oracle.Version("virt-sysprep")}; operations: {operations}");

        var args = new List<string> { "LIBGUESTFS_BACKEND=direct", "virt-sysprep" };
        foreach (PlantedLayout layout in layouts)
        {
            args.AddRange(["--format", "raw", "-a", temp.File($"theirs-{layout}.img")]);
        }

        args.AddRange(["--operations", operations]);
        ToolResult run = Oracle.Run("env", args, TimeSpan.FromMinutes(10));
        Skip.If(run.ExitCode != 0 && run.StandardError.Contains("guestfs_launch failed", StringComparison.Ordinal), "The libguestfs appliance does not start here: " + run.StandardError);
        Assert.True(run.ExitCode == 0, run.ToString());

        var failures = new List<string>();
        foreach (PlantedLayout layout in layouts)
        {
            string ours = temp.File($"ours-{layout}.img");
            using (var device = FileBlockDevice.Open(ours, writable: true))
            using (var fs = Ext4FileSystem.Open(device, new Ext4OpenOptions { Writable = true }))
            {
                SysprepResult result = SysprepRunner.Run(fs, new SysprepOptions { Operations = SysprepSelection.Enable(operations) });
                _output.WriteLine($"{layout}: {result.Changes.Count} changes");
            }

            ToolResult fsck = Oracle.Run("e2fsck", "-fn", ours);
            Assert.True(fsck.ExitCode == 0, fsck.ToString());

            SortedDictionary<string, string> a = Snapshot(ours);
            SortedDictionary<string, string> b = Snapshot(temp.File($"theirs-{layout}.img"));
            foreach (string line in SysprepTreeSnapshot.Diff(a, b))
            {
                if (!IsDocumentedDifference(line))
                {
                    failures.Add($"{layout}: {line}");
                }
            }
        }

        Assert.True(failures.Count == 0, "ours (-) and virt-sysprep's (+) trees differ:\n" + string.Join('\n', failures));
    }

    private static SortedDictionary<string, string> Snapshot(string image)
    {
        using var device = FileBlockDevice.Open(image);
        using var fs = Ext4FileSystem.Open(device);
        return SysprepTreeSnapshot.Take(fs);
    }

    /// <summary>The deliberate differences of docs/sysprep.md ("Differences from virt-sysprep").</summary>
    private static bool IsDocumentedDifference(string line) => false;
}
