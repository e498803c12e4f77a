using System.Security.Cryptography;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Customization;

/// <summary><c>diskimage customize</c> on an ext4 image made by our mkfs: errors leave the image byte-identical; dry runs write nothing.</summary>
public sealed class CustomizeCliTests
{
    [Fact]
    public void Customize_BadOperation_ExitOneNamesItAndImageUnchanged()
    {
        using var tmp = new TempDirectory();
        string image = tmp.File("fs.qcow2");
        CliHarness.RunOk("mkfs", "--size", "32M", "-f", "qcow2", "ext4", image);
        CliHarness.RunOk("customize", "-a", image, "--mkdir", "/etc", "--write", "/etc/passwd:root:x:0:0:root:/root:/bin/sh\n", "--mkdir", "/root");
        byte[] before = SHA256.HashData(File.ReadAllBytes(image));

        CliResult r = CliHarness.Run("customize", image, "--write", "/etc/hostname:x", "--ssh-inject", "nobody:string:ssh-ed25519 AAAA");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--ssh-inject nobody:string:ssh-ed25519 AAAA: the user 'nobody' does not exist in /etc/passwd", r.StandardError, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));

        CliResult dry = CliHarness.RunOk("customize", "-n", image, "--write", "/etc/hostname:x", "--ssh-inject", "root:string:ssh-ed25519 AAAA");
        Assert.Contains("would create /root/.ssh/authorized_keys", dry.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(image)));
    }

    [SkippableFact]
    public void Customize_SshInjectAndHostname_E2fsckCleanAndReadBack()
    {
        Oracle.Require("e2fsck");
        using var tmp = new TempDirectory();
        string image = tmp.File("fs.raw");
        CliHarness.RunOk("mkfs", "--size", "32M", "ext4", image);
        CliHarness.RunOk("customize", "-a", image, "--mkdir", "/etc", "--mkdir", "/root", "--write", "/etc/passwd:root:x:0:0:root:/root:/bin/sh\n",
            "--ssh-inject", "root:string:ssh-ed25519 AAAA k", "--hostname", "h1", "--chown", "0.5:/etc/hostname");
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());
        Assert.Equal("ssh-ed25519 AAAA k\n", CliHarness.RunOk("cat", image, "/root/.ssh/authorized_keys").StandardOutput);
        Assert.Contains(" 0 5 ", CliHarness.RunOk("ls", "-l", image, "/etc/hostname").StandardOutput, StringComparison.Ordinal);
    }
}
