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

    [SkippableFact]
    public void Sysprep_EmbeddedCustomizeOptions_RunAfterTheFileOperations()
    {
        Oracle.Require("e2fsck");
        using var temp = new TempDirectory();
        string image = BuildImage(temp);

        // ssh-userdir removes /root/.ssh; the customize operation runs after it, so the injected key stays.
        CliResult r = CliHarness.RunOk(
            "sysprep", "-a", image, "--hostname", "clone2.example.com", "--write", "/etc/passwd:root:x:0:0:root:/root:/bin/sh\n", "--ssh-inject", "root:string:ssh-ed25519 BBBB new",
            "--write=/etc/motd:prepared", "--mkdir", "/opt/site", "--chmod", "0700:/opt/site", "--mkdir", "/etc/systemd/system", "--firstboot-command", "echo first");
        Assert.Contains("delete /root/.ssh/authorized_keys (ssh-userdir)", r.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("create /etc/motd (customize)", r.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("note: customize", r.StandardError, StringComparison.Ordinal);
        Assert.True(r.StandardOutput.IndexOf("(ssh-userdir)", StringComparison.Ordinal) < r.StandardOutput.IndexOf("(customize)", StringComparison.Ordinal), r.StandardOutput);

        ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.Equal("ssh-ed25519 BBBB new\n", CliHarness.RunOk("cat", image, "/root/.ssh/authorized_keys").StandardOutput);
        Assert.Equal("clone2.example.com\n", CliHarness.RunOk("cat", image, "/etc/hostname").StandardOutput);
        Assert.Equal("prepared", CliHarness.RunOk("cat", image, "/etc/motd").StandardOutput);
        Assert.Contains("drwx------", CliHarness.RunOk("ls", "-l", image, "/opt").StandardOutput, StringComparison.Ordinal);

        Assert.Contains("-echo-first", CliHarness.RunOk("ls", image, "/usr/lib/virt-sysprep/scripts").StandardOutput, StringComparison.Ordinal);

        // The machine-id stays as --machine-id left it (empty), not refilled by the customize step (RHBZ#1557042).
        Assert.Equal(string.Empty, CliHarness.RunOk("cat", image, "/etc/machine-id").StandardOutput);
    }

    [Fact]
    public void Sysprep_EmbeddedCustomizeDryRun_ListsBothAndWritesNothing()
    {
        using var temp = new TempDirectory();
        string image = BuildImage(temp);
        byte[] before = SHA256.HashData(File.ReadAllBytes(image));
        CliResult r = CliHarness.RunOk("sysprep", "--dry-run", image, "--operations", "logfiles,customize", "--write", "/etc/motd:x", "--delete", "/etc/krb5.keytab");
        Assert.Contains("would delete /var/log/messages (logfiles)", r.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("would create /etc/motd (customize)", r.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("would delete /etc/krb5.keytab (customize)", r.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));
    }

    [Theory]
    [InlineData("--chmod", "0700:/no/such/dir", "/no/such/dir")]
    [InlineData("--upload", "/no/such/host/file:/etc/x", "/no/such/host/file")]
    [InlineData("--root-password", "bogus:x", "bogus")]
    [InlineData("--operations", "defaults,-customize", "\"customize\" operation is not enabled")]
    public void Sysprep_BadEmbeddedCustomize_ClearErrorAndImageUnchanged(string option, string value, string message)
    {
        using var temp = new TempDirectory();
        string image = BuildImage(temp);
        byte[] before = SHA256.HashData(File.ReadAllBytes(image));
        CliResult r = option == "--operations"
            ? CliHarness.Run("sysprep", option, value, "--hostname", "x", image)
            : CliHarness.Run("sysprep", option, value, image);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, r.StandardError, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));
    }

    [Fact]
    public void Sysprep_ArgumentOfASysprepOption_IsNeverTakenAsACustomizeOption()
    {
        using var temp = new TempDirectory();
        string image = BuildImage(temp);

        // "--write" here is the value of --remove-user-accounts, not a customization.
        CliResult r = CliHarness.RunOk("sysprep", "-n", "-a", image, "--operations", "user-account", "--remove-user-accounts", "--write");
        Assert.DoesNotContain("(customize)", r.StandardOutput, StringComparison.Ordinal);
    }
}
