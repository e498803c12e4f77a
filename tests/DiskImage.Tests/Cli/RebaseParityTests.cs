using System.Text.RegularExpressions;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// <c>diskimage rebase</c> against <c>qemu-img rebase</c> (Debian qemu-utils 7.2) on identical chains:
/// the same exit code and output, the image passes <c>qemu-img check</c>, its guest view equals the
/// one qemu-img leaves (<c>qemu-img compare</c>) and, in safe mode, the one it had before; the
/// header names the same backing file and format (<c>qemu-img info</c>).
/// </summary>
public sealed partial class RebaseParityTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Matrix()
    {
        var data = new TheoryData<string, string>();
        string[] all =
        [
            "-b base.qcow2 -F qcow2", "-b new.raw -F raw", "-b other.qcow2 -F qcow2", "-b ''", "-p -b new.raw -F raw", "-q -b ''",
            "-u -b base.qcow2 -F qcow2", "-u -b new.raw -F raw", "-u -b ''", "-u", "-U -t none -T writeback -b base.qcow2 -F qcow2",
        ];
        foreach (string options in all)
        {
            data.Add("qcow2", options);
        }

        foreach (string kind in (string[])["v2", "extl2", "snapshot", "compressed"])
        {
            foreach (string options in (string[])["-b base.qcow2 -F qcow2", "-b new.raw -F raw", "-b ''", "-u -b other.qcow2 -F qcow2"])
            {
                data.Add(kind, options);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Matrix))]
    public void Rebase_ChainAndOptions_SameOutputAndImageAsQemuImg(string kind, string options)
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string qemuDir = MakeChain("qemu", kind);
        string ourDir = MakeChain("ours", kind);
        string before = _dir.File("before.raw");
        QemuImgOk("convert", "-O", "raw", Path.Combine(ourDir, "top.qcow2"), before);

        CliResult qemu = QemuImg(Arguments(options, qemuDir));
        CliResult ours = Run(Arguments(options, ourDir));
        string context = $"{kind} [{options}]\nqemu-img: {qemu}\ndiskimage: {ours}";
        Assert.True(qemu.ExitCode == 0 && ours.ExitCode == 0, context);
        Assert.True(WithoutProgress(qemu.StandardOutput) == WithoutProgress(ours.StandardOutput), context);
        Assert.True(qemu.StandardError == ours.StandardError, context);

        string top = Path.Combine(ourDir, "top.qcow2");
        string theirTop = Path.Combine(qemuDir, "top.qcow2");
        Assert.Equal(Info(theirTop, qemuDir), Info(top, ourDir));
        CliResult check = QemuImg("check", top);
        Assert.True(check.ExitCode == 0, $"{context}\nqemu-img check: {check}");
        CliResult same = QemuImg("compare", theirTop, top);
        Assert.True(same.ExitCode == 0, $"{context}\nqemu-img compare (qemu-img's vs ours): {same}");

        if (!options.Contains("-u", StringComparison.Ordinal))
        {
            CliResult guest = QemuImg("compare", before, top);
            Assert.True(guest.ExitCode == 0, $"{context}\nthe guest view changed: {guest}");
        }

        if (kind == "snapshot")
        {
            string theirs = _dir.File("snap-qemu.raw");
            string mine = _dir.File("snap-ours.raw");
            QemuImgOk("convert", "-l", "s1", "-O", "raw", theirTop, theirs);
            QemuImgOk("convert", "-l", "s1", "-O", "raw", top, mine);
            Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(mine));
        }
    }

    [SkippableFact]
    public void Rebase_Errors_SameMessagesAndExitCodesAsQemuImg_ImageUnchanged()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string dir = MakeChain("err", "qcow2");
        string top = Path.Combine(dir, "top.qcow2");
        string raw = Path.Combine(dir, "new.raw");
        string[][] cases =
        [
            ["rebase", top],
            ["rebase"],
            ["rebase", "-b", "x", top, raw],
            ["rebase", "-t", "bogus", "-b", "new.raw", top],
            ["rebase", "-T", "bogus", "-b", "new.raw", top],
            ["rebase", "-b", "new.raw", "-F", "bogus", top],
            ["rebase", "-b", "new.raw", "-F", "qcow2", top],
            ["rebase", "-b", "missing.qcow2", "-F", "qcow2", top],
            ["rebase", "-b", "top.qcow2", "-F", "qcow2", top],
            ["rebase", "-f", "raw", "-b", "x", "-F", "raw", raw],
            ["rebase", "-f", "raw", "-u", "-b", "", raw],
            ["rebase", "-b", "new.raw", "-F", "raw", Path.Combine(dir, "missing.qcow2")],
            ["rebase", "-c", "-b", "new.raw", top],
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

    [SkippableFact]
    public void Rebase_NewBackingIsTheImageByAnotherName_RefusedImageUnchanged()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        Oracle.Require("ln");
        string dir = MakeChain("alias", "qcow2");
        string top = Path.Combine(dir, "top.qcow2");
        Oracle.RunOk("ln", top, Path.Combine(dir, "hard.qcow2"));
        File.CreateSymbolicLink(Path.Combine(dir, "sym.qcow2"), "top.qcow2");
        byte[] before = File.ReadAllBytes(top);
        foreach (string name in (string[])["hard.qcow2", "sym.qcow2", "./top.qcow2"])
        {
            foreach (string[] mode in (string[][])[[], ["-U"]])
            {
                CliResult r = Run(["rebase", .. mode, "-b", name, "-F", "qcow2", top]);
                Assert.True(r.ExitCode == 1, $"{name}: {r}");
                Assert.Contains($"Could not open new backing file '{name}': Failed to get shared \"write\" lock\nIs another process using the image [{Path.Combine(dir, name)}]?", r.StandardError, StringComparison.Ordinal);
                Assert.Equal(before, File.ReadAllBytes(top));
            }
        }
    }

    private static string[] Arguments(string options, string dir)
    {
        var args = new List<string> { "rebase" };
        foreach (string word in options.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            args.Add(word == "''" ? string.Empty : word);
        }

        args.Add(Path.Combine(dir, "top.qcow2"));
        return [.. args];
    }

    /// <summary>
    /// base (1 MiB) ← mid ← top (2 MiB), each with data and zeros, plus new.raw (base's first half
    /// and other data) and other.qcow2, made by qemu-img and qemu-io in a directory of its own.
    /// </summary>
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
        string baseImage = Path.Combine(dir, "base.qcow2");
        string mid = Path.Combine(dir, "mid.qcow2");
        string top = Path.Combine(dir, "top.qcow2");
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, baseImage, "1M"]);
        QemuIo(baseImage, "qcow2", "write -P 1 0 256k");
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, "-b", "base.qcow2", "-F", "qcow2", mid]);
        QemuIo(mid, "qcow2", v2 ? ["write -P 2 64k 128k"] : ["write -P 2 64k 128k", "write -z 192k 64k"]);
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, "-b", "mid.qcow2", "-F", "qcow2", top, "2M"]);
        string write = kind == "compressed" ? "write -c -P 3 320k 64k" : "write -P 3 300k 40k";
        QemuIo(top, "qcow2", v2 ? [write, "write -P 4 1536k 4k"] : [write, "write -z 0 4k", "write -P 4 1536k 4k", "write -z 128k 8k"]);
        if (kind == "snapshot")
        {
            QemuImgOk("snapshot", "-c", "s1", top);
            QemuIo(top, "qcow2", "write -P 5 300k 8k", "write -P 6 768k 64k");
        }

        string raw = Path.Combine(dir, "new.raw");
        QemuImgOk("create", "-q", "-f", "raw", raw, "1536k");
        QemuIo(raw, "raw", "write -P 1 0 128k", "write -P 7 1M 64k", "write -P 2 96k 1k");
        string other = Path.Combine(dir, "other.qcow2");
        QemuImgOk(["create", "-q", "-f", "qcow2", .. create, other, "4M"]);
        QemuIo(other, "qcow2", "write -P 8 0 64k", "write -P 2 64k 64k", "write -P 9 3M 64k");
        return dir;
    }

    private static string Info(string image, string dir) =>
        WithoutLines(QemuImgOk("info", "--output=json", image).StandardOutput, "\"actual-size\"", "\"date-sec\"", "\"date-nsec\"").Replace(dir, "DIR", StringComparison.Ordinal);

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
