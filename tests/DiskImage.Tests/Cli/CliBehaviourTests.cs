using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>CLI behaviour that needs no oracle: help, version, option help, usage errors.</summary>
public sealed class CliBehaviourTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Run_Help_PrintsUsageAndExits0()
    {
        CliResult r = Run("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("usage: diskimage", r.StandardOutput, StringComparison.Ordinal);
        foreach (string verb in (string[])["check", "compare", "convert", "create", "info", "map", "resize"])
        {
            Assert.Contains("\n  " + verb + " ", r.StandardOutput, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Run_Version_PrintsVersionLine()
    {
        CliResult r = Run("--version");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("diskimage version ", r.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_UnknownVerb_UsageOnStderrExit1()
    {
        CliResult r = Run("frobnicate");
        Assert.Equal(new CliResult(1, "", "diskimage: Command not found: frobnicate\nTry 'diskimage --help' for more information\n"), r);
    }

    [Fact]
    public void Run_NoArguments_Exit1()
    {
        Assert.Equal(new CliResult(1, "", "diskimage: Not enough arguments\nTry 'diskimage --help' for more information\n"), Run());
    }

    [Fact]
    public void Create_OptionHelp_ListsQcow2Options()
    {
        CliResult r = Run("create", "-f", "qcow2", "-o", "help", _dir.File("x.qcow2"));
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Supported options:\n", r.StandardOutput, StringComparison.Ordinal);
        foreach (string option in (string[])["cluster_size=", "compat=", "refcount_bits=", "compression_type=", "extended_l2=", "lazy_refcounts=", "preallocation=", "backing_file=", "backing_fmt="])
        {
            Assert.Contains("  " + option, r.StandardOutput, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(_dir.File("x.qcow2")));

        // Without a file name qemu-img names the format in the heading.
        Assert.StartsWith("Supported qcow2 options:\n", Run("create", "-f", "qcow2", "-o", "help").StandardOutput, StringComparison.Ordinal);
        Assert.StartsWith("Supported raw options:\n", Run("convert", "-O", "raw", "-o", "?").StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_Raw_PrintsFormattingLineAndMakesFile()
    {
        string path = _dir.File("r.img");
        CliResult r = Run("create", path, "1.5M");
        Assert.Equal(new CliResult(0, $"Formatting '{path}', fmt=raw size=1572864\n", ""), r);
        Assert.Equal(1572864, new FileInfo(path).Length);
        Assert.Equal(string.Empty, Run("create", "-q", "-f", "raw", path, "1M").StandardOutput);
    }

    [Fact]
    public void Create_UnknownFormat_Exit1()
    {
        CliResult r = Run("create", "-f", "vmdk", _dir.File("x.vmdk"), "1M");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("diskimage: Unknown file format 'vmdk'\n", r.StandardError);
    }

    [Fact]
    public void Convert_BadParallelism_Exit1WithQemuMessage()
    {
        CliResult r = Run("convert", "-m", "0", "a", "b");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("diskimage: Invalid number of coroutines. Allowed number of coroutines is between 1 and 16\n", r.StandardError);
    }

    [Fact]
    public void Compare_MissingImage_Exit2()
    {
        string path = _dir.File("r.img");
        Assert.Equal(0, Run("create", "-q", path, "1M").ExitCode);
        CliResult r = Run("compare", path, _dir.File("missing.img"));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("diskimage: Could not open '", r.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Resize_Raw_GrowsFile()
    {
        string path = _dir.File("r.img");
        Assert.Equal(0, Run("create", "-q", path, "1M").ExitCode);
        Assert.Equal(new CliResult(0, "Image resized.\n", ""), Run("resize", "-f", "raw", path, "+1M"));
        Assert.Equal(2 * 1048576, new FileInfo(path).Length);
    }
}
