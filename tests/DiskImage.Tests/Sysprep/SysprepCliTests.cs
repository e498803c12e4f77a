using System.Security.Cryptography;
using DiskImage.FileSystems.Ext4;
using DiskImage.FileSystems.InMemory;
using DiskImage.IO;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Sysprep;

public sealed class SysprepCliTests
{
    private static string BuildImage(TempDirectory temp)
    {
        var mem = new InMemoryFileSystem();
        SysprepPlantedTree.Plant(mem, PlantedLayout.Rocky);
        string image = temp.File("guest.img");
        var options = new Ext4BuildOptions { ExtraBytes = 8 << 20 };
        using var device = FileBlockDevice.Create(image, Ext4FileSystem.ComputeBuildSize(mem, options));
        Ext4FileSystem.Build(device, mem, options);
        return image;
    }

    [SkippableFact]
    public void Sysprep_DryRunThenRun_ListsChangesLeavesImageThenCleansIt()
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string image = BuildImage(temp);
        byte[] before = SHA256.HashData(File.ReadAllBytes(image));

        CliResult dry = CliHarness.RunOk("sysprep", "--dry-run", "-a", image);
        Assert.Contains("would delete /etc/ssh/ssh_host_rsa_key (ssh-hostkeys)", dry.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("would rewrite /etc/sysconfig/network-scripts/ifcfg-eth0 (net-hwaddr)", dry.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));

        CliResult run = CliHarness.RunOk("sysprep", image, "--operations", "defaults,net-netplan-macaddress", "--machine-id", "uninitialized");
        Assert.Contains("delete /var/log/messages (logfiles)", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("note: lvm-uuids", run.StandardError, StringComparison.Ordinal);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.Equal("uninitialized\n", CliHarness.RunOk("cat", image, "/etc/machine-id").StandardOutput);
        Assert.DoesNotContain("HWADDR", CliHarness.RunOk("cat", image, "/etc/sysconfig/network-scripts/ifcfg-eth0").StandardOutput, StringComparison.Ordinal);
        Assert.NotEqual(0, CliHarness.Run("cat", image, "/etc/ssh/ssh_host_rsa_key").ExitCode);
    }

    [Fact]
    public void Sysprep_ListOperations_MarksDefaultsAndExtras()
    {
        CliResult r = CliHarness.RunOk("sysprep", "--list-operations");
        Assert.Contains("logfiles * ", r.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("user-account   ", r.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("random-seed + ", r.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--operations", "nosuch", "'nosuch' is not a known operation")]
    [InlineData("--operations", "fs-uuids", "fs-uuids")]
    [InlineData("--machine-id", "random", "--machine-id")]
    public void Sysprep_BadArguments_ClearErrorAndImageUnchanged(string option, string value, string message)
    {
        using var temp = new TempDirectory();
        string image = BuildImage(temp);
        byte[] before = SHA256.HashData(File.ReadAllBytes(image));
        CliResult r = CliHarness.Run("sysprep", option, value, image);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, r.StandardError, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));
    }
}
