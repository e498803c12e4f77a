using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// Small qemu-img 7.2 parity points (issue 8): exit codes and outputs compared with qemu-img on the
/// same arguments, and CLI errors that name flags rather than library API members.
/// </summary>
public sealed class QemuImgParityPointsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Create_UnsafeWithMissingBacking_WritesImageAndExits0LikeQemuImg()
    {
        string ours = _dir.File("ours.qcow2");
        string theirs = _dir.File("theirs.qcow2");
        CliResult expected = QemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2", theirs, "1M");
        CliResult actual = Run("create", "-q", "-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2", ours, "1M");
        Assert.Equal(expected.ExitCode, actual.ExitCode);
        Assert.Equal(0, actual.ExitCode);
        Assert.Equal("", actual.StandardError);
        CliResult info = QemuImgOk("info", "--output=json", ours);
        Assert.Contains("\"backing-filename\": \"missing.qcow2\"", info.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("convert", "-t", "bogus")]
    [InlineData("convert", "-T", "bogus")]
    [InlineData("check", "-T", "bogus")]
    [InlineData("compare", "-T", "bogus")]
    public void CacheMode_Unknown_RefusedLikeQemuImg(string verb, string flag, string mode)
    {
        string a = _dir.File("a.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", a, "1M");
        string[] Args(string target) => verb switch
        {
            "convert" => [verb, flag, mode, "-O", "raw", a, target],
            "compare" => [verb, flag, mode, a, a],
            _ => [verb, flag, mode, a],
        };

        // qemu-img creates the target before it looks at the cache mode; diskimage writes nothing.
        CliResult expected = QemuImg(Args(_dir.File("theirs.raw")));
        CliResult actual = Run(Args(_dir.File("ours.raw")));
        Assert.Equal(expected, actual);
        Assert.False(File.Exists(_dir.File("ours.raw")));
    }

    [SkippableTheory]
    [InlineData("none")]
    [InlineData("writeback")]
    [InlineData("unsafe")]
    [InlineData("writethrough")]
    [InlineData("directsync")]
    public void CacheMode_Known_Accepted(string mode)
    {
        string a = _dir.File("a.qcow2");
        RunOk("create", "-q", "-f", "qcow2", a, "1M");
        RunOk("convert", "-t", mode, "-T", mode, "-O", "raw", a, _dir.File("out.raw"));
        RunOk("check", "-T", mode, a);
    }

    [SkippableTheory]
    [InlineData("qcow2", "2G", "1G")]
    [InlineData("qcow2", "1G", "1G")]
    [InlineData("raw", "2G", "1G")]
    public void Create_SizeOptionAndSizeArgument_RefusedLikeQemuImg(string format, string option, string size)
    {
        string ours = _dir.File("img");
        CliResult expected = QemuImg("create", "-f", format, "-o", "size=" + option, ours, size);
        Assert.False(File.Exists(ours));
        CliResult actual = Run("create", "-f", format, "-o", "size=" + option, ours, size);
        Assert.Equal(expected, actual);
        Assert.False(File.Exists(ours));
    }

    [SkippableTheory]
    [InlineData("identical")]
    [InlineData("mismatch")]
    [InlineData("size")]
    [InlineData("strict-size")]
    [InlineData("quiet")]
    [InlineData("missing")]
    public void Compare_Progress_PrintsLikeQemuImg(string kind)
    {
        string a = _dir.File("a.qcow2");
        string b = _dir.File("b.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", a, "1M");
        QemuImgOk("create", "-q", "-f", "qcow2", b, kind is "size" or "strict-size" ? "100M" : "1M");
        if (kind == "mismatch")
        {
            QemuIo(b, "qcow2", "write -P 1 512k 512");
        }

        string[] args = kind switch
        {
            "strict-size" => ["compare", "-p", "-s", a, b],
            "quiet" => ["compare", "-p", "-q", a, b],
            "missing" => ["compare", "-p", a, _dir.File("missing.qcow2")],
            _ => ["compare", "-p", a, b],
        };
        // Progress lines end in a carriage return, so qemu-img's output is taken byte for byte from a file.
        string stdoutFile = _dir.File("stdout");
        ToolResult qemu = Oracle.Run("sh", ["-c", "qemu-img \"$@\" > \"$0\"", stdoutFile, .. args], TimeSpan.FromMinutes(1));
        var expected = new CliResult(qemu.ExitCode, File.ReadAllText(stdoutFile), qemu.StandardError.Replace("qemu-img", "diskimage", StringComparison.Ordinal));
        CliResult actual = Run(args);
        Assert.True(expected == actual, $"expected {Escape(expected)}\nactual {Escape(actual)}");
    }

    private static string Escape(CliResult r) => r.ToString().Replace("\r", "\\r", StringComparison.Ordinal);

    [SkippableTheory]
    [InlineData("compat=0.10", "")]
    [InlineData("compat=1.1", "")]
    [InlineData("compat=0.10,preallocation=metadata", "")]
    [InlineData("compat=0.10,preallocation=metadata", "write -P 3 1M 1M")]
    [InlineData("preallocation=metadata", "write -P 3 1M 1M")]
    [InlineData("preallocation=falloc", "")]
    public void Measure_SourceKinds_MatchQemuImg(string options, string io)
    {
        string image = _dir.File("src.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", options, image, "4M");
        if (io.Length > 0)
        {
            QemuIo(image, "qcow2", io);
        }

        foreach (string[] args in new[]
        {
            new[] { "measure", "-O", "qcow2", image },
            ["measure", "--output=json", "-O", "qcow2", image],
            ["measure", "-O", "qcow2", "-o", "compat=0.10", image],
            ["map", "--output=json", image],
        })
        {
            CliResult expected = QemuImgOk(args);
            CliResult actual = RunOk(args);
            Assert.True(expected == actual, $"{options} {io}: diskimage {string.Join(' ', args)}\nexpected {expected}\nactual {actual}");
        }
    }

    [SkippableFact]
    public void Map_FallocatedRaw_DetectionDoesNotTurnTheTailIntoData()
    {
        // Format detection looks for a VHD/DMG trailer; reading an unwritten preallocated extent
        // would put it in the page cache, and SEEK_DATA would then report it as data.
        Oracle.Require("fallocate");
        string image = _dir.File("prealloc.raw");
        Oracle.RunOk("fallocate", "-l", "4M", image);
        CliResult actual = RunOk("map", "--output=json", image);
        CliResult expected = QemuImgOk("map", "--output=json", image);
        Assert.Equal(expected, actual);
    }

    [SkippableFact]
    public void Errors_NoBackingAndExternalDataFile_NameFlagsNotApi()
    {
        string baseImage = _dir.File("base.qcow2");
        string overlay = _dir.File("overlay.qcow2");
        RunOk("create", "-q", "-f", "qcow2", baseImage, "1M");
        RunOk("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay);
        foreach (string verb in (string[])["info", "map", "check"])
        {
            CliResult r = Run(verb, "--no-backing", overlay);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("--no-backing", r.StandardError, StringComparison.Ordinal);
            AssertNoApiNames(r);
        }

        string withDataFile = _dir.File("data.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", withDataFile, "1M");
        CliResult d = Run("info", "--no-backing", withDataFile);
        Assert.Equal(1, d.ExitCode);
        Assert.Contains("external data file 'data.raw', which is not opened with --no-backing", d.StandardError, StringComparison.Ordinal);
        AssertNoApiNames(d);
    }

    [Fact]
    public void Errors_BackingChainTooDeep_NamesNoApi()
    {
        string previous = _dir.File("l0.qcow2");
        RunOk("create", "-q", "-f", "qcow2", previous, "1M");
        for (int i = 1; i <= 17; i++)
        {
            string next = _dir.File($"l{i}.qcow2");
            RunOk("create", "-q", "-f", "qcow2", "-u", "-b", Path.GetFileName(previous), "-F", "qcow2", next, "1M");
            previous = next;
        }

        CliResult r = Run("map", previous);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("the limit of 16 images", r.StandardError, StringComparison.Ordinal);
        AssertNoApiNames(r);
    }

    [Theory]
    [InlineData("The qcow2 image names the backing file 'a'; following backing files is denied by default. Set DiskImageOpenOptions.BackingFiles to BackingFilePolicy.Allow to open it.", "The qcow2 image names the backing file 'a', which is not opened with --no-backing")]
    [InlineData("Something failed. Set Qcow2RepairMode.All to fix it. Then retry.", "Something failed. Then retry.")]
    [InlineData("Plain message without API names.", "Plain message without API names.")]
    [InlineData("'d.img': The ext4 journal needs recovery (the file system was not cleanly unmounted); set Ext4OpenOptions.AllowJournalRecoveryNeeded to read it as it is.", "'d.img': The ext4 journal needs recovery (the file system was not cleanly unmounted); recover it with e2fsck first (the read-only verbs take --skip-journal to read it as it is)")]
    public void CliWords_RephrasesOrDropsApiSentences(string library, string expected)
    {
        Assert.Equal(expected, DiskImage.Cli.CliWords.Speak(library));
    }

    private static void AssertNoApiNames(CliResult r)
    {
        foreach (string api in (string[])["DiskImageOpenOptions", "BackingFilePolicy", "Ext4OpenOptions", "Qcow2RepairMode", "AllowExternalDataFile", "MaxBackingChainDepth"])
        {
            Assert.DoesNotContain(api, r.StandardError, StringComparison.Ordinal);
        }
    }
}
