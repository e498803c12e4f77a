using DiskImage.Tests.Formats.Luks;
using DiskImage.Tests.Oracles;
using Xunit;
using Xunit.Abstractions;
using static DiskImage.Tests.Cli.CliHarness;

namespace DiskImage.Tests.Cli;

/// <summary>
/// Encrypted images from the command line against qemu-img 7.2: <c>info</c> of raw LUKS (cryptsetup
/// 2.6 luksFormat, ours) and of qcow2 with encrypt.format=luks and aes, text and JSON; <c>convert</c>,
/// <c>create</c>, <c>compare</c> and <c>check</c> with <c>--object secret</c> and <c>--image-opts</c>,
/// judged by qemu-img compare and check; the errors for a missing, wrong or unknown key.
/// </summary>
public sealed class LuksCliTests(ITestOutputHelper output) : IDisposable
{
    private const string Object = "secret,id=s0,data=abc";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string LuksOpts(string path) => $"driver=luks,key-secret=s0,file.filename={path}";

    private static string Qcow2Opts(string path) => $"driver=qcow2,encrypt.key-secret=s0,file.filename={path}";

    private void AssertInfoSame(string path)
    {
        foreach (string mode in new[] { "human", "json" })
        {
            CliResult qemu = QemuImgOk("info", "--output=" + mode, path);
            CliResult ours = RunOk("info", "--output=" + mode, path);
            output.WriteLine(ours.StandardOutput);
            Assert.Equal(qemu.StandardOutput, ours.StandardOutput);
        }
    }

    [SkippableTheory]
    [InlineData("aes-xts-plain64", 512)]
    [InlineData("aes-cbc-essiv:sha256", 256)]
    public void Info_CryptsetupLuks1_MatchesQemuImg(string cipher, int keyBits)
    {
        Oracle.Require("qemu-img");
        string path = _dir.File("c.luks");
        LuksImageTests.CryptsetupFormat(path, cipher, keyBits);
        AssertInfoSame(path);
    }

    [SkippableFact]
    public void Info_OursLuksAndQcow2Luks_MatchQemuImg()
    {
        Oracle.Require("qemu-img");
        string luks = _dir.File("n.luks");
        string qcow2 = _dir.File("n.qcow2");
        RunOk("create", "-q", "-f", "luks", "--object", Object, "-o", "key-secret=s0,iter-time=10", luks, "1M");
        RunOk("create", "-q", "-f", "qcow2", "--object", Object, "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", qcow2, "1M");
        AssertInfoSame(luks);
        AssertInfoSame(qcow2);
        CliResult check = QemuImgOk("check", "--object", Object, "--image-opts", Qcow2Opts(qcow2));
        Assert.Contains("No errors were found", check.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Info_LegacyAesQcow2_MatchesQemuImg()
    {
        Oracle.Require("qemu-img");
        string path = _dir.File("a.qcow2");
        QemuImgOk("create", "-q", "-f", "qcow2", "--object", Object, "-o", "encrypt.format=aes,encrypt.key-secret=s0", path, "1M");
        AssertInfoSame(path);
        CliResult r = Run("convert", "-O", "raw", path, _dir.File("x.raw"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("legacy AES", r.StandardError, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Convert_ToEncryptedQcow2AndLuks_QemuImgComparesAndChecks()
    {
        Oracle.Require("qemu-img");
        string plain = _dir.File("plain.raw");
        var random = new Random(88);
        byte[] data = new byte[3 << 20];
        random.NextBytes(data.AsSpan(0, 1 << 20));
        random.NextBytes(data.AsSpan(2 << 20, 4096));
        File.WriteAllBytes(plain, data);
        string qcow2 = _dir.File("e.qcow2");
        string luks = _dir.File("e.luks");
        RunOk("convert", "--object", Object, "-O", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", plain, qcow2);
        RunOk("convert", "--object", Object, "-O", "luks", "-o", "key-secret=s0,iter-time=10", plain, luks);
        foreach (string opts in new[] { Qcow2Opts(qcow2), LuksOpts(luks) })
        {
            CliResult cmp = QemuImg("compare", "--object", Object, "--image-opts", opts, $"driver=raw,file.filename={plain}");
            Assert.True(cmp.ExitCode == 0, cmp.ToString());
        }

        CliResult check = QemuImgOk("check", "--object", Object, "--image-opts", Qcow2Opts(qcow2));
        Assert.Contains("No errors were found", check.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(check.StandardOutput, RunOk("check", "--object", Object, "--image-opts", Qcow2Opts(qcow2)).StandardOutput);
        Assert.Equal(0, RunOk("compare", "--object", Object, "--image-opts", Qcow2Opts(qcow2), LuksOpts(luks)).ExitCode);

        // map: encrypted data has no usable host offset (JSON leaves it out, the human map refuses).
        foreach (string opts in new[] { Qcow2Opts(qcow2), LuksOpts(luks) })
        {
            CliResult qemuMap = QemuImg("map", "--output=json", "--object", Object, "--image-opts", opts);
            CliResult ourMap = Run("map", "--output=json", "--object", Object, "--image-opts", opts);
            Assert.Equal(qemuMap.StandardOutput, ourMap.StandardOutput);
            CliResult qemuHuman = QemuImg("map", "--object", Object, "--image-opts", opts);
            CliResult ourHuman = Run("map", "--object", Object, "--image-opts", opts);
            Assert.Equal(qemuHuman.ExitCode, ourHuman.ExitCode);
            Assert.Equal(qemuHuman.StandardError, ourHuman.StandardError);
        }

        // And back: ours decrypts to the same bytes qemu-img does.
        string back = _dir.File("back.raw");
        string qemuBack = _dir.File("qemu-back.raw");
        RunOk("convert", "--object", Object, "--image-opts", LuksOpts(luks), "-O", "raw", back);
        QemuImgOk("convert", "--object", Object, "--image-opts", LuksOpts(luks), "-O", "raw", qemuBack);
        Assert.Equal(File.ReadAllBytes(qemuBack), File.ReadAllBytes(back));
        Assert.Equal(data, File.ReadAllBytes(back));
    }

    [SkippableFact]
    public void Convert_FromCryptsetupLuksWrittenByQemuIo_SameAsQemuImg()
    {
        Oracle.Require("qemu-img");
        Oracle.Require("qemu-io");
        string path = _dir.File("c.luks");
        LuksImageTests.CryptsetupFormat(path, "aes-xts-plain64", 512);
        ToolResult io = Oracle.Run("qemu-io", ["--object", Object, "--image-opts", LuksOpts(path), "-c", "write -P 0x5a 4k 60k", "-c", "write -z 1M 64k"], TimeSpan.FromMinutes(1));
        Assert.True(io.ExitCode == 0, io.ToString());
        string ours = _dir.File("ours.raw");
        string theirs = _dir.File("theirs.raw");
        RunOk("convert", "--object", Object, "--image-opts", LuksOpts(path), "-O", "raw", ours);
        QemuImgOk("convert", "--object", Object, "--image-opts", LuksOpts(path), "-O", "raw", theirs);
        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
    }

    [SkippableFact]
    public void Errors_MissingWrongOrUnknownKey_AsQemuImg()
    {
        Oracle.Require("qemu-img");
        string luks = _dir.File("n.luks");
        string qcow2 = _dir.File("n.qcow2");
        RunOk("create", "-q", "-f", "luks", "--object", Object, "-o", "key-secret=s0,iter-time=10", luks, "1M");
        RunOk("create", "-q", "-f", "qcow2", "--object", Object, "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", qcow2, "1M");
        string target = _dir.File("x.raw");
        foreach (string image in new[] { luks, qcow2 })
        {
            CliResult qemu = QemuImg("convert", "-O", "raw", image, target);
            CliResult ours = Run("convert", "-O", "raw", image, target);
            Assert.Equal(qemu.ExitCode, ours.ExitCode);
            Assert.Equal(qemu.StandardError, ours.StandardError);
        }

        CliResult noData = Run("info", "--object", "secret,id=s0", luks);
        Assert.Equal(QemuImg("info", "--object", "secret,id=s0", luks).StandardError, noData.StandardError);
        CliResult wrong = Run("convert", "--object", "secret,id=s0,data=nope", "--image-opts", LuksOpts(luks), "-O", "raw", target);
        Assert.Equal(1, wrong.ExitCode);
        Assert.EndsWith("Invalid password, cannot unlock any keyslot\n", wrong.StandardError, StringComparison.Ordinal);
        CliResult unknown = Run("convert", "--object", Object, "--image-opts", $"driver=luks,key-secret=s9,file.filename={luks}", "-O", "raw", target);
        Assert.EndsWith("No secret with id 's9'\n", unknown.StandardError, StringComparison.Ordinal);
        CliResult noSecret = Run("create", "-f", "luks", luks, "1M");
        Assert.Equal(QemuImg("create", "-f", "luks", luks, "1M").StandardError, noSecret.StandardError);
    }

    [Fact]
    public void Object_Base64AndFileSecrets_Unlock()
    {
        string luks = _dir.File("n.luks");
        string secretFile = _dir.File("secret.txt");
        File.WriteAllText(secretFile, "abc");
        RunOk("create", "-q", "-f", "luks", "--object", $"secret,id=s0,file={secretFile}", "-o", "key-secret=s0,iter-time=10", luks, "1M");
        RunOk("convert", "--object", "secret,id=s0,data=YWJj,format=base64", "--image-opts", LuksOpts(luks), "-O", "raw", _dir.File("x.raw"));
        Assert.Equal(1048576, new FileInfo(_dir.File("x.raw")).Length);
    }
}
