using System.Text.RegularExpressions;
using DiskImage.Tests.Locking;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage commit</c> against <c>qemu-img commit</c> (Debian qemu-utils 7.2) on identical
/// three-image chains: the same exit code and output, every image passes <c>qemu-img check</c>, each
/// image's guest view equals the one qemu-img leaves (<c>qemu-img compare</c>), and the top image's
/// guest view is what it was before the commit.
/// </summary>
public sealed partial class CommitParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Matrix()
    {
        var data = new TheoryData<string, string>();
        string[] all = ["", "-d", "-q", "-p", "-b BASE", "-b MID", "-b /BASE", "-d -p -q", "-r 100M -t writeback", "-f qcow2 -t none"];
        foreach (string options in all)
        {
            data.Add("qcow2", options);
        }

        foreach (string kind in (string[])["raw-base", "v2", "extl2", "snapshot", "compressed"])
        {
            foreach (string options in (string[])["", "-d", "-b BASE", "-b MID"])
            {
                data.Add(kind, options);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Matrix))]
    public void Commit_ChainAndOptions_SameOutputAndImagesAsQemuImg(string kind, string options)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string qemuDir = MakeChain("qemu", kind);
        string ourDir = MakeChain("ours", kind);
        string baseName = kind == "raw-base" ? "base.img" : "base.qcow2";
        string before = _dir.File("before.raw");
        QemuImgOk("convert", "-O", "raw", Path.Combine(ourDir, "top.qcow2"), before);

        CliResult qemu = QemuImg(Arguments(options, qemuDir, baseName));
        CliResult ours = Run(Arguments(options, ourDir, baseName));
        string context = $"{kind} [{options}]\nqemu-img: {qemu}\ndiskimage: {ours}";
        Assert.True(qemu.ExitCode == 0 && ours.ExitCode == 0, context);
        Assert.True(WithoutProgress(qemu.StandardOutput) == WithoutProgress(ours.StandardOutput), context);
        Assert.True(qemu.StandardError == ours.StandardError, context);
        if (options.Contains("-p", StringComparison.Ordinal) && !options.Contains("-q", StringComparison.Ordinal))
        {
            Assert.StartsWith("    (0.00/100%)\r", ours.StandardOutput, StringComparison.Ordinal);
            Assert.EndsWith("    (100.00/100%)\r\nImage committed.\n", ours.StandardOutput, StringComparison.Ordinal);
        }

        foreach (string name in (string[])[baseName, "mid.qcow2", "top.qcow2"])
        {
            string mine = Path.Combine(ourDir, name);
            if (name.EndsWith(".qcow2", StringComparison.Ordinal))
            {
                CliResult check = QemuImg("check", mine);
                Assert.True(check.ExitCode == 0, $"{context}\nqemu-img check {name}: {check}");
            }

            CliResult same = QemuImg("compare", Path.Combine(qemuDir, name), mine);
            Assert.True(same.ExitCode == 0, $"{context}\nqemu-img compare {name} (qemu-img's vs ours): {same}");
        }

        CliResult guest = QemuImg("compare", before, Path.Combine(ourDir, "top.qcow2"));
        Assert.True(guest.ExitCode == 0, $"{context}\nthe top's guest view changed: {guest}");
        if (kind == "snapshot")
        {
            string theirs = _dir.File("snap-qemu.raw");
            string mine = _dir.File("snap-ours.raw");
            QemuImgOk("convert", "-l", "s1", "-O", "raw", Path.Combine(qemuDir, "top.qcow2"), theirs);
            QemuImgOk("convert", "-l", "s1", "-O", "raw", Path.Combine(ourDir, "top.qcow2"), mine);
            Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(mine));
        }
    }

    [SkippableFact]
    public void Commit_Errors_SameMessagesAndExitCodesAsQemuImg_InputsUnchanged()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string dir = MakeChain("err", "qcow2");
        string top = Path.Combine(dir, "top.qcow2");
        string baseImage = Path.Combine(dir, "base.qcow2");
        string[][] cases =
        [
            ["commit", "-t", "bogus", top],
            ["commit", "-r", "bogus", top],
            ["commit", "-r", "-1", top],
            ["commit", "-f", "raw", top],
            ["commit", "-b", "nonexistent.qcow2", top],
            ["commit", "-b", top, top],
            ["commit", "-b", "mid.qcow2", baseImage],
            ["commit", baseImage],
            ["commit", Path.Combine(dir, "missing.qcow2")],
            ["commit"],
            ["commit", top, baseImage],
            ["commit", "-x", top],
        ];
        Dictionary<string, byte[]> sums = Snapshot(dir);
        foreach (string[] args in cases)
        {
            CliResult qemu = QemuImg(args);
            CliResult ours = Run(args);
            Assert.True(qemu.ToString() == ours.ToString(), $"{string.Join(' ', args)}\nqemu-img: {qemu}\ndiskimage: {ours}");
            Assert.Equal(sums, Snapshot(dir));
        }
    }

    [SkippableTheory]
    [InlineData("base.qcow2")]
    [InlineData("mid.qcow2")]
    [InlineData("top.qcow2")]
    public void Commit_ImageHeldByQemuIo_RefusedOrDoneAsQemuImg(string held)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        Oracle.Require("qemu-io");
        foreach (string[] flags in (string[][])[["-r"], ["-r", "-U"], []])
        {
            string mode = string.Join(' ', flags);
            string qemuDir = MakeChain("q" + held + mode.Replace(" ", string.Empty, StringComparison.Ordinal), "qcow2");
            string ourDir = MakeChain("o" + held + mode.Replace(" ", string.Empty, StringComparison.Ordinal), "qcow2");
            CliResult qemu;
            CliResult ours;
            using (QemuImageHolder.Start(Path.Combine(qemuDir, held), "qcow2", flags))
            {
                qemu = QemuImg("commit", "-b", "base.qcow2", Path.Combine(qemuDir, "top.qcow2"));
            }

            using (QemuImageHolder.Start(Path.Combine(ourDir, held), "qcow2", flags))
            {
                ours = Run("commit", "-b", "base.qcow2", Path.Combine(ourDir, "top.qcow2"));
            }

            string context = $"{held} held by qemu-io {mode}\nqemu-img: {qemu}\ndiskimage: {ours}";
            Assert.True(qemu.ExitCode == ours.ExitCode, context);
            Assert.True(qemu.StandardError.Replace(qemuDir, ourDir, StringComparison.Ordinal) == ours.StandardError, context);
            foreach (string name in (string[])["base.qcow2", "mid.qcow2", "top.qcow2"])
            {
                Assert.True(QemuImg("compare", Path.Combine(qemuDir, name), Path.Combine(ourDir, name)).ExitCode == 0, $"{context}\n{name} differs");
            }
        }
    }

    [SkippableFact]
    public void Commit_WhileCommitting_QemuIoCannotWriteTopOrBase()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        Oracle.Require("qemu-io");
        string dir = MakeChain("rate", "qcow2");
        string top = Path.Combine(dir, "top.qcow2");

        // 64 KiB per second makes the commit of the top's data last a few seconds.
        var commit = Task.Run(() => Run("commit", "-r", "64k", "-b", "base.qcow2", top));
        Thread.Sleep(700);
        foreach (string name in (string[])["top.qcow2", "base.qcow2"])
        {
            ToolResult write = Oracle.Run("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 4k", Path.Combine(dir, name));
            Assert.True(write.ExitCode != 0 || write.StandardError.Contains("lock", StringComparison.Ordinal), $"{name}: {write}");
            Assert.Contains("Failed to get", write.StandardError + write.StandardOutput, StringComparison.Ordinal);
        }

        Assert.False(commit.IsCompleted, "the commit ended before the writers were tried; the test proves nothing");
        CliResult r = commit.GetAwaiter().GetResult();
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    private static string[] Arguments(string options, string dir, string baseName)
    {
        var args = new List<string> { "commit" };
        foreach (string word in options.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            args.Add(word switch
            {
                "BASE" => baseName,
                "/BASE" => Path.Combine(dir, baseName),
                "MID" => "mid.qcow2",
                _ => word,
            });
        }

        args.Add(Path.Combine(dir, "top.qcow2"));
        return [.. args];
    }

    /// <summary>base (1 MiB) ← mid ← top (2 MiB), each with data and zeros, made by qemu-img and qemu-io in a directory of its own.</summary>
    private string MakeChain(string name, string kind)
    {
        string dir = _dir.File(name);
        Directory.CreateDirectory(dir);
        string[] create = kind switch
        {
            "v2" => ["-o", "compat=0.10"],
            "extl2" => ["-o", "extended_l2=on"],
            _ => [],
        };
        bool v2 = kind == "v2";
        string baseName = kind == "raw-base" ? "base.img" : "base.qcow2";
        string baseFormat = kind == "raw-base" ? "raw" : "qcow2";
        string baseImage = Path.Combine(dir, baseName);
        string mid = Path.Combine(dir, "mid.qcow2");
        string top = Path.Combine(dir, "top.qcow2");
        QemuImgOk(["create", "-q", "-f", baseFormat, .. (baseFormat == "raw" ? [] : create), baseImage, "1M"]);
        QemuIo(baseImage, baseFormat, "write -P 1 0 256k");
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, "-b", baseName, "-F", baseFormat, mid]);
        QemuIo(mid, "qcow2", v2 ? ["write -P 2 64k 128k"] : ["write -P 2 64k 128k", "write -z 192k 64k"]);
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, "-b", "mid.qcow2", "-F", "qcow2", top, "2M"]);
        string write = kind == "compressed" ? "write -c -P 3 320k 64k" : "write -P 3 300k 40k";
        QemuIo(top, "qcow2", v2 ? [write, "write -P 4 1536k 4k"] : [write, "write -z 0 4k", "write -P 4 1536k 4k", "write -z 128k 8k"]);
        if (kind == "snapshot")
        {
            QemuImgOk("snapshot", "-c", "s1", top);
            QemuIo(top, "qcow2", "write -P 5 300k 8k", "write -P 6 768k 64k");
        }

        return dir;
    }

    private static Dictionary<string, byte[]> Snapshot(string dir)
    {
        var sums = new Dictionary<string, byte[]>();
        foreach (string file in Directory.GetFiles(dir))
        {
            sums[Path.GetFileName(file)] = System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file));
        }

        return sums;
    }

    private static string WithoutProgress(string text) => ProgressLines().Replace(text, "<progress>");

    [GeneratedRegex(@"(    \(\d+\.\d\d/100%\)[\r\n]+)+")]
    private static partial Regex ProgressLines();
}
