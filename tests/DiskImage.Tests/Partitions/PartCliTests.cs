using DiskImage.Tests.Cli;

namespace DiskImage.Tests.Partitions;

/// <summary><c>diskimage part</c> errors and edge cases that need no oracle.</summary>
public sealed class PartCliTests
{
    [Fact]
    public void PartCommands_Errors_ExitOneWithMessage()
    {
        using var tmp = new TempDirectory();
        string img = PartitionOracle.NewImage(tmp, "d.img", 16 << 20);
        CliResult none = CliHarness.Run("part", "list", img);
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no partition table found", none.StandardError, StringComparison.Ordinal);

        CliHarness.RunOk("part", "create", img, "--type", "gpt", "--id", "11111111-2222-3333-4444-555555555555");
        Assert.Contains("\"id\": \"11111111-2222-3333-4444-555555555555\"", CliHarness.RunOk("part", "list", img, "--output=json").StandardOutput, StringComparison.Ordinal);
        CliHarness.RunOk("part", "add", img, "--size", "4M", "--type", "lvm");

        CliResult tooBig = CliHarness.Run("part", "add", img, "--size", "64M");
        Assert.Equal(1, tooBig.ExitCode);
        Assert.Contains("No free area", tooBig.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, CliHarness.Run("part", "add", img, "--type", "nonsense").ExitCode);
        Assert.Contains("partition 7 does not exist", CliHarness.Run("part", "delete", img, "7").StandardError, StringComparison.Ordinal);
        CliResult shrink = CliHarness.Run("part", "resize", img, "1", "--size", "2M");
        Assert.Equal(1, shrink.ExitCode);
        Assert.Contains("shrinking", shrink.StandardError, StringComparison.Ordinal);
        CliHarness.RunOk("part", "resize", img, "1", "--size", "2M", "--shrink");
        Assert.Contains("\"size\": 4096", CliHarness.RunOk("part", "list", img, "--output=json").StandardOutput, StringComparison.Ordinal);
        Assert.Equal(1, CliHarness.Run("part", "frob", img).ExitCode);
    }
}
