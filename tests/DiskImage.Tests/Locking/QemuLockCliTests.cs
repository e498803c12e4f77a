using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Locking;

/// <summary>
/// The CLI verbs against an image a running qemu-io holds (read-write, read-only, read-only with
/// <c>-U</c>): each verb, with and without <c>-U</c>, exits and reports as qemu-img 7.2 does with
/// the same arguments against the same holder.
/// </summary>
public sealed class QemuLockCliTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [SkippableFact]
    public void ResizeAndRepair_OnQcow2ExportedByQemuNbd_RefusedAsByQemuImg()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = _temp.File("exported.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        byte[] before = File.ReadAllBytes(image);
        using (QemuImageHolder.StartNbd(image, "qcow2", _temp.File("nbd.sock")))
        {
            foreach (string[] verb in new[] { new[] { "resize", image, "128M" }, ["check", "-r", "all", image], ["info", image], ["map", image] })
            {
                CliResult qemu = CliHarness.QemuImg(verb);
                CliResult ours = CliHarness.Run(verb);
                Assert.True(qemu.ExitCode == 1 && ours.ToString() == qemu.ToString(), $"{string.Join(' ', verb)}\nqemu-img: {qemu}\ndiskimage: {ours}");
            }

            Assert.Contains("virtual size: 64 MiB", CliHarness.RunOk("info", "-U", image).StandardOutput, StringComparison.Ordinal);
        }

        Assert.Equal(before, File.ReadAllBytes(image));
    }

    [SkippableTheory]
    [InlineData("symlink")]
    [InlineData("hardlink")]
    public void Convert_OntoAliasOfItsQcow2Source_RefusedByTheLockAsByQemuImg(string alias)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = _temp.File("disk.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        CliHarness.QemuIo(image, "qcow2", "write -P 0x3c 0 1M");
        string link = _temp.File("alias.qcow2");
        if (alias == "symlink")
        {
            File.CreateSymbolicLink(link, image);
        }
        else
        {
            Oracle.RunOk("ln", image, link);
        }

        byte[] before = File.ReadAllBytes(image);
        string[] verb = ["convert", "-O", "qcow2", image, link];
        CliResult qemu = CliHarness.QemuImg(verb);
        CliResult ours = CliHarness.Run(verb);
        Assert.True(qemu.ExitCode == 1 && ours.ToString() == qemu.ToString(), $"qemu-img: {qemu}\ndiskimage: {ours}");
        Assert.Equal(before, File.ReadAllBytes(image));
    }

    [SkippableTheory]
    [MemberData(nameof(QemuLockLibraryTests.Modes), MemberType = typeof(QemuLockLibraryTests))]
    public void Verbs_OnQcow2HeldByQemuIo_ExitAndReportAsQemuImg(string holderMode)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "QEMU's image locks are taken on Linux only.");
        string image = _temp.File("held.qcow2");
        string other = _temp.File("other.qcow2");
        string source = _temp.File("source.qcow2");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", other, "64M");
        Oracle.RunOk("qemu-img", "create", "-q", "-f", "qcow2", source, "64M");
        string[][] verbs =
        [
            ["info", image],
            ["info", "-U", image],
            ["info", "--force-share", image],
            ["check", image],
            ["check", "-U", image],
            ["check", "-r", "all", image],
            ["check", "-U", "-r", "all", image],
            ["map", image],
            ["map", "-U", image],
            ["measure", "-O", "qcow2", image],
            ["measure", "-U", "-O", "qcow2", image],
            ["compare", image, other],
            ["compare", "-U", image, other],
            ["resize", image, "64M"],
            ["convert", "-n", "-O", "qcow2", source, image],
            ["convert", "-U", "-O", "raw", image, _temp.File("out.raw")],
        ];

        int failures = 0;
        using (QemuImageHolder.Start(image, "qcow2", QemuLockLibraryTests.QemuFlags(holderMode)))
        {
            foreach (string[] verb in verbs)
            {
                CliResult qemu = CliHarness.QemuImg(verb);
                CliResult ours = CliHarness.Run(verb);
                string context = $"holder {holderMode}: {string.Join(' ', verb)}\nqemu-img: {qemu}\ndiskimage: {ours}";
                Assert.True(qemu.ExitCode == ours.ExitCode, context);
                if (qemu.ExitCode != 0)
                {
                    Assert.True(qemu.StandardError == ours.StandardError, context);
                    failures++;
                }
            }
        }

        Assert.Equal(holderMode switch { "rw" => 9, "ro" => 4, _ => 1 }, failures);
    }
}
