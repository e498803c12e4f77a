using System.Text;
using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Sysprep;
using DiskImage.Tests.Oracles;
using static DiskImage.Tests.Customization.GuestFixture;

namespace DiskImage.Tests.Customization;

/// <summary>
/// Customize and sysprep label what they create with the guest's own SELinux policy (no relabel at boot):
/// the labels equal libselinux's <c>matchpathcon</c> on the same file_contexts, an unreadable policy stops the
/// run before the first write, and a guest without SELinux gets no label.
/// </summary>
public sealed class CustomizeSelinuxTests
{
    private const string HostContexts = "/etc/selinux/default/contexts/files";

    private static readonly CustomizeOptions NoSeed = new() { RefreshRandomSeedAndMachineId = false };

    private static string? Label(IFileSystem fs, string path) =>
        fs.GetXattrs(path).TryGetValue("security.selinux", out byte[]? v) ? Encoding.UTF8.GetString(v) : null;

    private static InMemoryFileSystem GuestWithHostPolicy()
    {
        InMemoryFileSystem fs = Create();
        fs.CreateDirectory("/etc/selinux");
        fs.CreateDirectory("/etc/selinux/default");
        fs.CreateDirectory("/etc/selinux/default/contexts");
        fs.CreateDirectory("/etc/selinux/default/contexts/files");
        Write(fs, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=default\n");
        foreach (string name in (string[])["file_contexts", "file_contexts.homedirs", "file_contexts.subs_dist", "file_contexts.local", "file_contexts.subs"])
        {
            string host = Path.Combine(HostContexts, name);
            if (File.Exists(host))
            {
                Write(fs, "/etc/selinux/default/contexts/files/" + name, File.ReadAllText(host));
            }
        }

        return fs;
    }

    private static string Matchpathcon(string path, string type)
    {
        ToolResult r = Oracle.Run("matchpathcon", "-N", "-n", "-m", type, "-f", Path.Combine(HostContexts, "file_contexts"), path);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StandardOutput.Trim();
    }

    [SkippableFact]
    public void Customize_NewEntries_GetTheLabelsMatchpathconGives()
    {
        Oracle.Require("matchpathcon");
        if (!File.Exists(Path.Combine(HostContexts, "file_contexts")))
        {
            Assert.Fail("selinux-policy-default's file_contexts is missing (see .ci/run)");
        }

        using InMemoryFileSystem fs = GuestWithHostPolicy();
        CustomizationResult r = Customizer.Apply(fs, CustomizeScript.Parse(
            ["--write", "/etc/motd:welcome", "--mkdir", "/var/log/custom", "--ssh-inject", "alice:string:ssh-ed25519 AAAA a@b", "--link", "/etc/motd:/etc/motd.link"]), NoSeed);
        Assert.Contains("/etc/motd", r.ChangedPaths);
        foreach ((string path, string type) in new[]
        {
            ("/etc/motd", "file"), ("/var/log/custom", "dir"), ("/home/alice/.ssh", "dir"), ("/home/alice/.ssh/authorized_keys", "file"), ("/etc/motd.link", "lnk_file"),
        })
        {
            string expected = Matchpathcon(path, type);
            Assert.Equal(expected + "\0", Label(fs, path));
        }

        // A file the customization did not touch keeps what it had (nothing).
        Assert.Null(Label(fs, "/etc/hostname"));
    }

    [Fact]
    public void Customize_UnreadablePolicy_StopsBeforeTheFirstWrite()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateDirectory("/etc/selinux");
        Write(fs, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n"); // no file_contexts
        var e = Assert.Throws<CustomizationException>(() => Customizer.Apply(fs, CustomizeScript.Parse(["--write", "/etc/motd:x"]), NoSeed));
        Assert.Equal("selinux-relabel", e.Operation);
        Assert.False(fs.Exists("/etc/motd"));
    }

    [Fact]
    public void Customize_SelinuxDisabledOrOff_NoLabels()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateDirectory("/etc/selinux");
        Write(fs, "/etc/selinux/config", "SELINUX=disabled\nSELINUXTYPE=targeted\n");
        Customizer.Apply(fs, CustomizeScript.Parse(["--write", "/etc/motd:x"]), NoSeed);
        Assert.Null(Label(fs, "/etc/motd"));
    }

    [SkippableFact]
    public void Sysprep_CreatedFiles_AreLabelled()
    {
        Oracle.Require("matchpathcon");
        using InMemoryFileSystem fs = GuestWithHostPolicy();
        Write(fs, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        fs.CreateDirectory("/etc/ssh");
        Write(fs, "/etc/ssh/sshd_config", "PermitRootLogin no\n");
        SysprepResult r = SysprepRunner.Run(fs, new SysprepOptions { Operations = SysprepSelection.ParseOperations("defaults,ssh-hostkeys-regenerate") });
        Assert.NotEmpty(r.CreatedPaths);
        foreach (string created in r.CreatedPaths)
        {
            if (fs.Exists(created))
            {
                UnixFileInfo info = fs.GetEntry(created);
                string type = info.Type == UnixFileType.Directory ? "dir" : info.Type == UnixFileType.SymbolicLink ? "lnk_file" : "file";
                Assert.Equal(Matchpathcon(created, type) + "\0", Label(fs, created));
            }
        }
    }
}
