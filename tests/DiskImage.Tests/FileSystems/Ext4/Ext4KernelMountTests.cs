using System.Runtime.Versioning;

namespace DiskImage.Tests.FileSystems.Ext4;

/// <summary>
/// Write interop judged by the running kernel (category KernelMount): the same seeded sequences as
/// <see cref="Ext4RandomOperationTests"/>, three seeds per image kind, then the image is mounted read-only through
/// a loop device and every path, type, mode, owner, size, link count, mtime, device number, link target, xattr
/// (POSIX ACLs as the kernel returns them) and content byte must equal the in-memory model.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelMount")]
public sealed class Ext4KernelMountTests
{
    public static TheoryData<string, int> Runs()
    {
        var data = new TheoryData<string, int>();
        foreach (Ext4RandomImageKind kind in Ext4RandomImageKind.All)
        {
            for (int i = 1; i <= 3; i++)
            {
                data.Add(kind.Name, i);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Runs))]
    public void RandomSequence_LoopMountedReadOnly_KernelSeesModelTree(string kindName, int seed)
    {
        Ext4KernelMount.Require();
        Ext4RandomImageKind kind = Ext4RandomImageKind.All.Single(k => k.Name == kindName);
        using Ext4RandomRun run = Ext4RandomRun.Execute(kind, kind.SeedBase + seed);
        if (run.CheckWithE2fsck() is { } fsck)
        {
            // Never hand the kernel an image e2fsck rejects (the random tests report it in detail).
            Assert.Fail($"{run.Context}\n{fsck}\n{run.Runner.Describe()}");
        }

        RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(run.Model);
        RandomTreeSnapshot viaKernel;
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(run.Image, run.Temp.File("mnt")))
        {
            viaKernel = Ext4KernelMount.Snapshot(m.MountPoint);
        }

        var options = new RandomTreeCompareOptions
        {
            Nanoseconds = kind.LargeInodes,
            NowWindow = run.CompareOptions.NowWindow,
            IgnoreUserXattrsOnSpecialFiles = true,
        };
        List<string> diffs = RandomTreeSnapshot.Compare(expected, viaKernel, options);
        Assert.True(diffs.Count == 0, $"{run.Context}: the kernel sees a different tree:\n  {string.Join("\n  ", diffs)}\n{run.Runner.Describe()}");
    }

    [SkippableFact]
    public void Snapshot_MkfsImage_KernelAndDebugfsAgree()
    {
        Ext4KernelMount.Require();
        using var tmp = new TempDirectory();
        string src = tmp.File("src");
        Directory.CreateDirectory(Path.Combine(src, "d"));
        File.WriteAllBytes(Path.Combine(src, "d", "f"), [1, 2, 3]);
        File.CreateSymbolicLink(Path.Combine(src, "slow"), "/" + new string('t', 100));
        Conformance.HostFiles.Mknod(Path.Combine(src, "blk"), DiskImage.FileSystems.UnixFileType.BlockDevice, 0x180, 259, 70000);
        Conformance.HostFiles.SetXattr(Path.Combine(src, "d", "f"), "user.x", [9, 8, 7]);
        Conformance.HostFiles.SetXattr(Path.Combine(src, "d"), "system.posix_acl_access",
            [2, 0, 0, 0, 1, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 6, 0, 0xE8, 3, 0, 0, 4, 0, 5, 0, 0xFF, 0xFF, 0xFF, 0xFF,
             0x10, 0, 7, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        string image = tmp.File("image");
        Ext4TestImages.Build(src, image, 8192, "-t", "ext4");
        RandomTreeSnapshot viaDebugfs = Oracles.DebugfsTree.Read(image, tmp.Path);
        RandomTreeSnapshot viaKernel;
        using (Ext4KernelMount.Mounted m = Ext4KernelMount.Mount(image, tmp.File("mnt")))
        {
            viaKernel = Ext4KernelMount.Snapshot(m.MountPoint);
        }

        List<string> diffs = RandomTreeSnapshot.Compare(viaDebugfs, viaKernel, new RandomTreeCompareOptions());
        Assert.True(diffs.Count == 0, string.Join("\n", diffs));
        Assert.Equal(6, viaKernel.Entries.Count); // /, lost+found, d, d/f, slow, blk
    }

    [Fact]
    public void ParseTime_NegativeWithFraction_FloorSecondsPlusNanoseconds()
    {
        Assert.Equal(new DiskImage.FileSystems.UnixTime(-2, 750_000_000), Ext4KernelMount.ParseTime("-1.250000000"));
        Assert.Equal(new DiskImage.FileSystems.UnixTime(5_000_000_000, 500_000_000), Ext4KernelMount.ParseTime("5000000000.500000000"));
        Assert.Equal(new DiskImage.FileSystems.UnixTime(-7, 0), Ext4KernelMount.ParseTime("-7.000000000"));
    }
}

/// <summary>
/// Write interop judged by the Debian kernel booted under qemu (TCG), without loop devices: a few random
/// sequences on five image kinds become virtio disks that the kernel mounts read-only; every path, type, mode,
/// owner, size, link count, mtime (seconds), device number, link target and file hash must equal the model.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "KernelBoot")]
public sealed class Ext4KernelBootTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableFact]
    public void RandomSequences_BootedKernelMountsReadOnly_SeesModelTrees()
    {
        Ext4RandomImageKind[] kinds = [Ext4RandomImageKind.MkfsDefaults, Ext4RandomImageKind.Mkfs1K, Ext4RandomImageKind.MkfsExt3, Ext4RandomImageKind.FormatDebian12, Ext4RandomImageKind.FormatRhel7];
        var runs = new List<Ext4RandomRun>();
        try
        {
            foreach (Ext4RandomImageKind kind in kinds)
            {
                Ext4RandomRun run = Ext4RandomRun.Execute(kind, kind.SeedBase + 2);
                runs.Add(run);
                if (run.CheckWithE2fsck() is { } fsck)
                {
                    Assert.Fail($"{run.Context}\n{fsck}\n{run.Runner.Describe()}");
                }
            }

            string script = string.Concat(Enumerable.Range(0, runs.Count).Select(Ext4KernelMountQemu.TreeScript));
            string console = Ext4KernelMountQemu.Boot(runs.Select(r => r.Image).ToList(), script, runs[0].Temp.Path, output.WriteLine);
            output.WriteLine(Ext4KernelMountQemu.KernelMessages(console));
            var failures = new List<string>();
            for (int i = 0; i < runs.Count; i++)
            {
                Ext4RandomRun run = runs[i];
                RandomTreeSnapshot expected = RandomTreeSnapshot.FromFileSystem(run.Model);
                RandomTreeSnapshot viaKernel = Ext4KernelMountQemu.ParseTree(console, i);
                var options = new RandomTreeCompareOptions { Nanoseconds = false, NowWindow = run.CompareOptions.NowWindow, Xattrs = false };
                List<string> diffs = RandomTreeSnapshot.Compare(expected, viaKernel, options);
                output.WriteLine($"{run.Context}: {viaKernel.Entries.Count} entries seen by the kernel, {diffs.Count} differences");
                if (diffs.Count > 0)
                {
                    failures.Add($"{run.Context}: the booted kernel sees a different tree:\n  {string.Join("\n  ", diffs)}\n{run.Runner.Describe()}");
                }
            }

            Assert.True(failures.Count == 0, string.Join("\n", failures) + "\n" + Ext4KernelMountQemu.KernelMessages(console));
        }
        finally
        {
            foreach (Ext4RandomRun run in runs)
            {
                run.Dispose();
            }
        }
    }
}
