using System.Globalization;
using System.Runtime.Versioning;
using DiskImage.FileSystems;
using DiskImage.FileSystems.Host;
using DiskImage.Security.Crypt;
using DiskImage.Tests.Cli;
using DiskImage.Tests.FileSystems;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Customization;

/// <summary>
/// A 25-option virt-customize script applied by <c>diskimage customize</c> to an ext4 image of the debootstrap
/// tree (made by mke2fs -d): e2fsck -fn stays clean, and the changes read back by debugfs equal the changes
/// virt-customize 1.48.2 made with the same script on the same image (recorded in <see cref="VirtCustomizeDelta"/>;
/// <see cref="SameScript_VirtCustomize_GivesSameDelta"/> re-runs it live when DISKIMAGE_VIRT_CUSTOMIZE=1).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class CustomizeDebootstrapTests
{
    /// <summary>Fixed so that first-boot script names (made from the host path) match the recorded run.</summary>
    private const string Inputs = "/tmp/diskimage-customize-oracle/in";

    private const string Script = """
        # customize script shared by diskimage and virt-customize
        mkdir /opt/demo/sub
        write /opt/demo/hello.txt:hello world
        append-line /opt/demo/hello.txt:second line
        append-line /etc/motd:Customized by the test
        touch /opt/demo/empty
        upload /tmp/diskimage-customize-oracle/in/upload.bin:/opt/demo/
        copy-in /tmp/diskimage-customize-oracle/in/tree:/opt/demo/sub
        chmod 0600:/opt/demo/hello.txt
        link /opt/demo/hello.txt:/opt/demo/hello-link:/opt/demo/sub/hello-link2
        copy /etc/hostname:/opt/demo/hostname.orig
        move /opt/demo/empty:/opt/demo/moved-empty
        delete /etc/cron.d/*
        truncate /var/log/dpkg.log
        truncate-recursive /var/log/apt
        edit /etc/issue:s/Debian/Customized/
        hostname testhost.example.com
        timezone Europe/Berlin
        root-password password:secret
        password daemon:disabled
        password bin:locked:password:x
        ssh-inject mail:string:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@host
        ssh-inject root:string:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRootKey root@host
        firstboot /tmp/diskimage-customize-oracle/in/fb.sh
        firstboot-command echo hello > /root/firstboot-command.out

        """;

    /// <summary>
    /// What virt-customize 1.48.2 (LIBGUESTFS_BACKEND=direct) changed, read with <c>debugfs rdump</c>: path, then
    /// type, mode, owner and the first 16 hex digits of the content's SHA-256 (or the link target).
    /// </summary>
    private const string VirtCustomizeDelta = """
        /etc/cron.d/e2scrub_all	deleted
        /etc/hostname	f 0755 0:0 d1070b2f142bf3df
        /etc/init.d/guestfs-firstboot	l 0:0 /usr/lib/virt-sysprep/firstboot.sh
        /etc/issue	f 0644 0:0 8cc156472f610652
        /etc/localtime	l 0:0 /usr/share/zoneinfo/Europe/Berlin
        /etc/motd	f 0644 0:0 f343203365657e06
        /etc/rc2.d/S99guestfs-firstboot	l 0:0 ../init.d/guestfs-firstboot
        /etc/rc3.d/S99guestfs-firstboot	l 0:0 ../init.d/guestfs-firstboot
        /etc/rc5.d/S99guestfs-firstboot	l 0:0 ../init.d/guestfs-firstboot
        /etc/shadow	f 0640 0:42 b640003dd347b864
        /etc/systemd/system/multi-user.target.wants/guestfs-firstboot.service	l 0:0 /usr/lib/systemd/system/guestfs-firstboot.service
        /opt/demo	d 0755 0:0
        /opt/demo/hello-link	l 0:0 /opt/demo/hello.txt
        /opt/demo/hello.txt	f 0600 0:0 1cf34cbeaca6f2ce
        /opt/demo/hostname.orig	f 0755 0:0 427f93cafd9cc19b
        /opt/demo/moved-empty	f 0644 0:0 e3b0c44298fc1c14
        /opt/demo/sub	d 0755 0:0
        /opt/demo/sub/hello-link2	l 0:0 /opt/demo/hello.txt
        /opt/demo/sub/tree	d 0755 0:0
        /opt/demo/sub/tree/d	d 0755 0:0
        /opt/demo/sub/tree/d/f.txt	f 0644 0:0 887a2e234d10dcd3
        /opt/demo/sub/tree/d/l	l 0:0 f.txt
        /opt/demo/upload.bin	f 0640 0:0 64155f7e3a8b87a2
        /root/.ssh	d 0700 0:0
        /root/.ssh/authorized_keys	f 0600 0:0 f6b0cd1ffc9446f6
        /usr/lib/systemd/system/guestfs-firstboot.service	f 0644 0:0 86587dd0ee9dfbff
        /usr/lib/virt-sysprep	d 0755 0:0
        /usr/lib/virt-sysprep/firstboot.sh	f 0755 0:0 81a2f88042e7cc8a
        /usr/lib/virt-sysprep/scripts	d 0755 0:0
        /usr/lib/virt-sysprep/scripts/5000-0001--tmp-diskimage-customize-oracle-in-fb-sh	f 0755 0:0 72f3067c70911339
        /usr/lib/virt-sysprep/scripts/5000-0002-echo-hello----root-firstboot-command-out	f 0755 0:0 afac52bc8c533ca5
        /var/log/dpkg.log	f 0644 0:0 e3b0c44298fc1c14
        /var/mail/.ssh	d 0700 8:8
        /var/mail/.ssh/authorized_keys	f 0600 8:8 7fbf169d7e393a35
        """;

    /// <summary>Deliberate differences, compared by form: yescrypt vs SHA-512-crypt hashes, and our own runner and unit text.</summary>
    private static readonly HashSet<string> ByForm = ["/etc/shadow", "/usr/lib/virt-sysprep/firstboot.sh", "/usr/lib/systemd/system/guestfs-firstboot.service"];

    [SkippableFact]
    public void Script_OnDebootstrapExt4_E2fsckCleanAndSameChangesAsVirtCustomize()
    {
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("mke2fs");
        Oracle.Require("e2fsck");
        Oracle.Require("debugfs");
        Skip.IfNot(Environment.UserName == "root", "upload sets the host file's owner; the recorded run used root's files");
        using var tmp = new TempDirectory();
        string image = tmp.File("guest.raw");
        MakeImage(tree, image);
        MakeInputs();
        string script = tmp.File("script.txt");
        File.WriteAllText(script, Script);

        CliResult r = CliHarness.RunOk("customize", "-a", image, "--commands-from-file", script, "-x");
        Assert.Contains("created /opt/demo/sub/tree/d/f.txt", r.StandardOutput, StringComparison.Ordinal);
        ToolResult fsck = Oracle.Run("e2fsck", "-fn", image);
        Assert.True(fsck.ExitCode == 0, fsck.ToString());

        RandomTreeSnapshot before;
        using (var host = new HostDirectoryFileSystem(tree))
        {
            before = RandomTreeSnapshot.FromFileSystem(host, p => p.StartsWith("/lost+found", StringComparison.Ordinal));
        }

        RandomTreeSnapshot after = DebugfsTree.Read(image, tmp.Path, exclude: p => p.StartsWith("/lost+found", StringComparison.Ordinal));
        SortedDictionary<string, string> ours = Delta(before, after);
        var expected = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in VirtCustomizeDelta.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split('\t');
            expected[f[0]] = f[1];
        }

        var differences = new List<string>();
        foreach (string path in expected.Keys.Union(ours.Keys))
        {
            expected.TryGetValue(path, out string? want);
            ours.TryGetValue(path, out string? got);
            if (ByForm.Contains(path))
            {
                Assert.NotNull(got);
                Assert.Equal(want![..7], got![..7]); // type and mode
                continue;
            }

            if (want != got)
            {
                differences.Add($"{path}: virt-customize {want ?? "(unchanged)"}, ours {got ?? "(unchanged)"}");
            }
        }

        Assert.True(differences.Count == 0, string.Join('\n', differences));

        // Random values by form: only field 2 of root, daemon and bin changed, as yescrypt hashes that verify.
        string shadowBefore = File.ReadAllText(Path.Combine(tree, "etc/shadow"));
        string[] a = shadowBefore.Split('\n'), b = CliHarness.RunOk("cat", image, "/etc/shadow").StandardOutput.Split('\n');
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            string[] fa = a[i].Split(':'), fb = b[i].Split(':');
            Assert.Equal(fa.Length, fb.Length);
            if (fa.Length < 2)
            {
                continue;
            }

            for (int f = 0; f < fa.Length; f++)
            {
                if (f != 1)
                {
                    Assert.Equal(fa[f], fb[f]);
                }
            }

            switch (fa[0])
            {
                // Debian 12: yescrypt at libxcrypt's default cost, as virt-customize writes.
                case "root": Assert.True(fb[1].StartsWith("$y$j9T$", StringComparison.Ordinal) && DiskImage.Security.Crypt.Yescrypt.Verify("secret"u8, fb[1]), fb[1]); break;
                case "bin": Assert.True(fb[1].StartsWith("!!$y$", StringComparison.Ordinal) && DiskImage.Security.Crypt.Yescrypt.Verify("x"u8, fb[1][2..]), fb[1]); break;
                case "daemon": Assert.Equal("*", fb[1]); break;
                default: Assert.Equal(fa[1], fb[1]); break;
            }
        }
    }

    /// <summary>Runs virt-customize itself (an appliance under TCG: minutes on a loaded machine), so only on request.</summary>
    [SkippableFact]
    public void SameScript_VirtCustomize_GivesSameDelta()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("DISKIMAGE_VIRT_CUSTOMIZE") == "1", "set DISKIMAGE_VIRT_CUSTOMIZE=1 to run virt-customize (slow)");
        string tree = Fixtures.RequireDebootstrapTree();
        Oracle.Require("virt-customize");
        using var tmp = new TempDirectory();
        string image = tmp.File("guest.raw");
        MakeImage(tree, image);
        MakeInputs();
        string script = tmp.File("script.txt");
        File.WriteAllText(script, Script);
        var psi = new System.Diagnostics.ProcessStartInfo("virt-customize") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["--format", "raw", "-a", image, "--commands-from-file", script])
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["LIBGUESTFS_BACKEND"] = "direct";
        using var p = System.Diagnostics.Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
        RandomTreeSnapshot before;
        using (var host = new HostDirectoryFileSystem(tree))
        {
            before = RandomTreeSnapshot.FromFileSystem(host, x => x.StartsWith("/lost+found", StringComparison.Ordinal));
        }

        SortedDictionary<string, string> delta = Delta(before, DebugfsTree.Read(image, tmp.Path, exclude: x => x.StartsWith("/lost+found", StringComparison.Ordinal)));
        string text = string.Join('\n', delta.Select(kv => WithoutRandomContent(kv.Key + "\t" + kv.Value)));
        string recorded = string.Join('\n', VirtCustomizeDelta.Trim().Split('\n').Select(WithoutRandomContent));
        Assert.Equal(recorded, text);
    }

    /// <summary>A delta line whose content hash is dropped when the file holds random values (password salts), as in <see cref="ByForm"/>.</summary>
    private static string WithoutRandomContent(string line)
    {
        int tab = line.IndexOf('\t', StringComparison.Ordinal);
        if (tab < 0 || !ByForm.Contains(line[..tab]))
        {
            return line;
        }

        int lastSpace = line.LastIndexOf(' ');
        return lastSpace > tab ? line[..lastSpace] : line;
    }

    private static void MakeImage(string tree, string image)
    {
        using (var f = new FileStream(image, FileMode.CreateNew))
        {
            f.SetLength(600L << 20);
        }

        ToolResult mk = Oracle.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, image], TimeSpan.FromMinutes(3));
        Assert.True(mk.ExitCode == 0, mk.ToString());
    }

    private static void MakeInputs()
    {
        if (Directory.Exists(Inputs))
        {
            Directory.Delete(Inputs, recursive: true);
        }

        Directory.CreateDirectory(Path.Combine(Inputs, "tree/d"));
        File.WriteAllBytes(Path.Combine(Inputs, "upload.bin"), "binary\0data\u0001"u8.ToArray());
        File.SetUnixFileMode(Path.Combine(Inputs, "upload.bin"), (UnixFileMode)0x1A0); // 0640
        File.WriteAllText(Path.Combine(Inputs, "tree/d/f.txt"), "tree-file\n");
        File.CreateSymbolicLink(Path.Combine(Inputs, "tree/d/l"), "f.txt");
        File.WriteAllText(Path.Combine(Inputs, "fb.sh"), "#!/bin/sh\necho firstboot-script > /root/fb.out\n");
        File.SetUnixFileMode(Path.Combine(Inputs, "fb.sh"), (UnixFileMode)0x1ED);
        foreach (string d in (string[])[Inputs, Path.Combine(Inputs, "tree"), Path.Combine(Inputs, "tree/d")])
        {
            File.SetUnixFileMode(d, (UnixFileMode)0x1ED);
        }

        File.SetUnixFileMode(Path.Combine(Inputs, "tree/d/f.txt"), (UnixFileMode)0x1A4);
    }

    /// <summary>Entries added, removed or changed (type, mode, owner, content or link target) from <paramref name="before"/> to <paramref name="after"/>.</summary>
    private static SortedDictionary<string, string> Delta(RandomTreeSnapshot before, RandomTreeSnapshot after)
    {
        var delta = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach ((string path, RandomTreeSnapshot.Entry e) in after.Entries)
        {
            string d = Describe(e);
            if (!before.Entries.TryGetValue(path, out RandomTreeSnapshot.Entry? old) || Describe(old) != d)
            {
                delta[path] = d;
            }
        }

        foreach (string path in before.Entries.Keys)
        {
            if (!after.Entries.ContainsKey(path))
            {
                delta[path] = "deleted";
            }
        }

        delta.Remove("/");
        return delta;
    }

    private static string Describe(RandomTreeSnapshot.Entry e)
    {
        string own = string.Create(CultureInfo.InvariantCulture, $"{e.UserId}:{e.GroupId}");
        string mode = "0" + Convert.ToString(e.Mode & 0xFFF, 8);
        return e.Type switch
        {
            UnixFileType.SymbolicLink => $"l {own} {e.LinkTarget}",
            UnixFileType.Directory => $"d {mode} {own}",
            UnixFileType.RegularFile => $"f {mode} {own} {e.ContentHash![..16].ToLowerInvariant()}",
            _ => $"o {mode} {own}",
        };
    }
}
