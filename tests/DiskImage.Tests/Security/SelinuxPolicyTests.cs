using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Security;

namespace DiskImage.Tests.Security;

public sealed class SelinuxPolicyTests
{
    private const string Files = "/etc/selinux/targeted/contexts/files/";

    internal static void Write(IFileSystem fs, string path, string text)
    {
        string dir = path[..path.LastIndexOf('/')];
        MakeDirectories(fs, dir);
        using Stream s = fs.OpenFile(path, FileMode.Create, FileAccess.Write);
        s.Write(Encoding.Latin1.GetBytes(text));
    }

    internal static void MakeDirectories(IFileSystem fs, string dir)
    {
        string current = string.Empty;
        foreach (string part in dir.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current += "/" + part;
            if (!fs.Exists(current))
            {
                fs.CreateDirectory(current);
            }
        }
    }

    private static InMemoryFileSystem Guest(string fileContexts, string? local = null, string? homedirs = null, string? subs = null, string? subsDist = null, string config = "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    {
        var fs = new InMemoryFileSystem();
        Write(fs, "/etc/selinux/config", config);
        Write(fs, Files + "file_contexts", fileContexts);
        if (local is not null)
        {
            Write(fs, Files + "file_contexts.local", local);
        }

        if (homedirs is not null)
        {
            Write(fs, Files + "file_contexts.homedirs", homedirs);
        }

        if (subs is not null)
        {
            Write(fs, Files + "file_contexts.subs", subs);
        }

        if (subsDist is not null)
        {
            Write(fs, Files + "file_contexts.subs_dist", subsDist);
        }

        return fs;
    }

    private static string? Label(SelinuxPolicy policy, string path, UnixFileType type = UnixFileType.RegularFile) =>
        policy.TryGetLabel(path, type, out string context) ? context : null;

    [Fact]
    public void TryGetLabel_ExactSpecs_SortAfterRegexSpecs()
    {
        // The exact spec comes first in the file but still beats the later regex: exact paths sort last.
        using InMemoryFileSystem fs = Guest("""
            /etc/shadow    --  system_u:object_r:shadow_t:s0
            /etc(/.*)?         system_u:object_r:etc_t:s0
            /etc/sha.*     --  system_u:object_r:other_t:s0
            """);
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal(SelinuxMode.Enforcing, policy.Mode);
        Assert.Equal("targeted", policy.PolicyType);
        Assert.Equal("system_u:object_r:shadow_t:s0", Label(policy, "/etc/shadow"));
        Assert.Equal("system_u:object_r:other_t:s0", Label(policy, "/etc/shadowx"));
        Assert.Equal("system_u:object_r:etc_t:s0", Label(policy, "/etc/shadow", UnixFileType.Directory));
        Assert.Equal("system_u:object_r:etc_t:s0", Label(policy, "/etc"));
        Assert.Null(Label(policy, "/etcetera"));
    }

    [Fact]
    public void TryGetLabel_LastMatchingRegexWins_AndTypesFilter()
    {
        using InMemoryFileSystem fs = Guest("""
            # comment
            /var(/.*)?                 system_u:object_r:var_t:s0
            /var/log(/.*)?             system_u:object_r:var_log_t:s0
            /var/log/.*\.sock      -s  system_u:object_r:sock_t:s0
            /var/log/.*            -l  system_u:object_r:link_t:s0
            /var/log/.*            -p  system_u:object_r:fifo_t:s0
            /var/log/.*            -c  system_u:object_r:chr_t:s0
            /var/log/.*            -b  system_u:object_r:blk_t:s0
            /var/log/.*            -d  system_u:object_r:dir_t:s0
            /var/log/nolabel.*         <<none>>
            """);
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal("system_u:object_r:var_log_t:s0", Label(policy, "/var/log/syslog"));
        Assert.Equal("system_u:object_r:sock_t:s0", Label(policy, "/var/log/x.sock", UnixFileType.Socket));
        Assert.Equal("system_u:object_r:var_log_t:s0", Label(policy, "/var/log/x.sock", UnixFileType.RegularFile));
        Assert.Equal("system_u:object_r:link_t:s0", Label(policy, "/var/log/a", UnixFileType.SymbolicLink));
        Assert.Equal("system_u:object_r:fifo_t:s0", Label(policy, "/var/log/a", UnixFileType.Fifo));
        Assert.Equal("system_u:object_r:chr_t:s0", Label(policy, "/var/log/a", UnixFileType.CharacterDevice));
        Assert.Equal("system_u:object_r:blk_t:s0", Label(policy, "/var/log/a", UnixFileType.BlockDevice));
        Assert.Equal("system_u:object_r:dir_t:s0", Label(policy, "/var/log/a", UnixFileType.Directory));
        Assert.Null(Label(policy, "/var/log/nolabel-here")); // <<none>> stops the search
        Assert.Equal("system_u:object_r:var_t:s0", Label(policy, "/var/lib"));
    }

    [Fact]
    public void TryGetLabel_LocalAndHomedirs_ComeAfterBase()
    {
        using InMemoryFileSystem fs = Guest(
            "/home/[^/]+(/.*)?   system_u:object_r:user_home_t:s0\n/srv(/.*)?  system_u:object_r:var_t:s0\n",
            local: "/srv/www(/.*)?  system_u:object_r:httpd_sys_content_t:s0\n",
            homedirs: "/home/[^/]+/\\.ssh(/.*)?  unconfined_u:object_r:ssh_home_t:s0\n/srv/www/x  system_u:object_r:h_t:s0\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal(5, policy.SpecCount);
        Assert.Equal("unconfined_u:object_r:ssh_home_t:s0", Label(policy, "/home/alice/.ssh/authorized_keys"));
        Assert.Equal("system_u:object_r:user_home_t:s0", Label(policy, "/home/alice/.bashrc"));
        Assert.Equal("system_u:object_r:httpd_sys_content_t:s0", Label(policy, "/srv/www/index.html"));
        Assert.Equal("system_u:object_r:h_t:s0", Label(policy, "/srv/www/x")); // exact beats regex, whichever file
    }

    [Fact]
    public void TryGetLabel_Substitutions_LocalThenDist_LastLineFirst()
    {
        using InMemoryFileSystem fs = Guest(
            "/usr/lib(/.*)?  system_u:object_r:lib_t:s0\n/usr/lib/systemd(/.*)?  system_u:object_r:systemd_t:s0\n/var/www(/.*)?  system_u:object_r:www_t:s0\n/  system_u:object_r:root_t:s0\n/x(/.*)?  system_u:object_r:x_t:s0\n",
            subs: "/web /var/www\n/site /web\n/root2 /\n",
            subsDist: "# dist\n/lib /usr/lib\n/lib/systemd /usr/lib/systemd\n/web /nowhere\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal("system_u:object_r:lib_t:s0", Label(policy, "/lib/libc.so.6"));
        Assert.Equal("system_u:object_r:systemd_t:s0", Label(policy, "/lib/systemd/systemd"));
        Assert.Null(Label(policy, "/lib64/libc.so.6")); // "/lib" must end at a '/'
        Assert.Equal("system_u:object_r:www_t:s0", Label(policy, "/web/index.html")); // .subs first; .subs_dist does not apply to /var/www
        Assert.Equal("system_u:object_r:lib_t:s0", Label(policy, "/lib")); // the alias itself
        Assert.Null(Label(policy, "/site/a")); // one substitution per list: /site -> /web, then .subs_dist /web -> /nowhere
        Assert.Equal("system_u:object_r:x_t:s0", Label(policy, "/root2/x/y")); // an alias for "/" leaves no doubled '/'
    }

    [Fact]
    public void TryGetLabel_KeyIsNormalized()
    {
        using InMemoryFileSystem fs = Guest("/etc/passwd  --  system_u:object_r:passwd_t:s0\n/  -d  system_u:object_r:root_t:s0\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal("system_u:object_r:passwd_t:s0", Label(policy, "//etc///passwd"));
        Assert.Equal("system_u:object_r:passwd_t:s0", Label(policy, "/etc/passwd/"));
        Assert.Equal("system_u:object_r:passwd_t:s0", Label(policy, "/etc/passwd\n")); // PCRE's '$' matches before a final newline
        Assert.Equal("system_u:object_r:root_t:s0", Label(policy, "/", UnixFileType.Directory));
        Assert.Equal("system_u:object_r:root_t:s0", Label(policy, "//", UnixFileType.Directory));
    }

    [Fact]
    public void TryGetLabel_RegexConstructs_MatchPcreOnBytes()
    {
        using InMemoryFileSystem fs = Guest("""
            /data/[[:digit:]]+             system_u:object_r:digits_t:s0
            /data/\d\d-\w+                 system_u:object_r:shorthand_t:s0
            /data/a{2}bc                   system_u:object_r:brace_t:s0
            /data/c{,2}                    system_u:object_r:literal_brace_t:s0
            /data/.{3}                     system_u:object_r:three_bytes_t:s0
            /data/[]x]y                    system_u:object_r:bracket_t:s0
            /data/dot/.*                   system_u:object_r:dotall_t:s0
            /lost\+found(/.*)?             system_u:object_r:lost_found_t:s0
            """);
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        policy.Validate();
        Assert.Equal("system_u:object_r:digits_t:s0", Label(policy, "/data/2024"));
        Assert.Equal("system_u:object_r:shorthand_t:s0", Label(policy, "/data/12-ab_c"));
        Assert.Null(Label(policy, "/data/١٢-ab")); // Arabic-Indic digits are not \d in PCRE without UCP
        Assert.Null(Label(policy, "/data/12-é")); // nor is é (two bytes) a \w
        Assert.Equal("system_u:object_r:brace_t:s0", Label(policy, "/data/aabc"));
        Assert.Equal("system_u:object_r:literal_brace_t:s0", Label(policy, "/data/c{,2}"));
        Assert.Equal("system_u:object_r:three_bytes_t:s0", Label(policy, "/data/éa")); // é is two bytes
        Assert.Null(Label(policy, "/data/éab"));
        Assert.Equal("system_u:object_r:bracket_t:s0", Label(policy, "/data/]y"));
        Assert.Equal("system_u:object_r:dotall_t:s0", Label(policy, "/data/dot/a\nb"));
        Assert.Equal("system_u:object_r:lost_found_t:s0", Label(policy, "/lost+found/#123"));
    }

    [Fact]
    public void TryGetLabel_StemMismatch_SkipsSpecEvenIfRegexWouldMatch()
    {
        // libselinux compares the spec's plain first component with the path's before trying the regex:
        // "/dev\d/..." has the stem "/dev\d", which no path has, so it never applies.
        using InMemoryFileSystem fs = Guest("/dev\\d/.*  system_u:object_r:never_t:s0\n/.*  system_u:object_r:default_t:s0\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal("system_u:object_r:default_t:s0", Label(policy, "/dev1/x"));
    }

    [Theory]
    [InlineData("SELINUX=disabled\nSELINUXTYPE=targeted\n")]
    [InlineData("SELINUX=Disabled  \n")]
    public void TryLoad_Disabled_ReturnsNull(string config)
    {
        using InMemoryFileSystem fs = Guest("/.*  system_u:object_r:default_t:s0\n", config: config);
        Assert.Null(SelinuxPolicy.TryLoad(fs));
    }

    [Fact]
    public void TryLoad_NoConfig_ReturnsNull()
    {
        using var fs = new InMemoryFileSystem();
        Assert.Null(SelinuxPolicy.TryLoad(fs));
        Assert.Equal(0, SelinuxLabeler.Label(fs, ["/"]));
    }

    [Fact]
    public void TryLoad_ConfigDetails_FollowLibselinux()
    {
        // " SELINUX=" with a leading blank is not the mode line; selinuxtype is case-insensitive, last wins, default targeted.
        using InMemoryFileSystem fs = Guest("/.*  system_u:object_r:default_t:s0\n", config: " SELINUX=disabled\n  selinuxtype = other\nSELINUXTYPE=targeted \r\nSELINUX=permissive\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        Assert.Equal(SelinuxMode.Permissive, policy.Mode);
        Assert.Equal("targeted", policy.PolicyType);

        using InMemoryFileSystem noType = Guest("/.*  system_u:object_r:default_t:s0\n", config: "# nothing\n");
        Assert.Equal(SelinuxMode.Unspecified, SelinuxPolicy.TryLoad(noType)!.Mode);
    }

    [Fact]
    public void TryLoad_MissingOrCompiledOnly_FailsClearly()
    {
        using var missing = new InMemoryFileSystem();
        Write(missing, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=mls\n");
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => SelinuxPolicy.TryLoad(missing));
        Assert.Contains("/etc/selinux/mls/contexts/files/file_contexts", ex.Message, StringComparison.Ordinal);

        using var binOnly = new InMemoryFileSystem();
        Write(binOnly, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n");
        Write(binOnly, Files + "file_contexts.bin", "\u008a\u00ff\u007c\u00f9rest");
        Assert.Throws<NotSupportedException>(() => SelinuxPolicy.TryLoad(binOnly));

        using var binAsText = new InMemoryFileSystem();
        Write(binAsText, "/etc/selinux/config", "SELINUX=enforcing\n");
        Write(binAsText, Files + "file_contexts", "\u008a\u00ff\u007c\u00f9rest");
        Assert.Throws<NotSupportedException>(() => SelinuxPolicy.TryLoad(binAsText));
    }

    [Theory]
    [InlineData("/etc/onlyone\n", "missing fields")]
    [InlineData("/etc/x  -q  system_u:object_r:etc_t:s0\n", "invalid file type")]
    [InlineData("/etc/é  system_u:object_r:etc_t:s0\n", "non-ASCII")]
    public void TryLoad_MalformedLine_NamesFileAndLine(string line, string why)
    {
        using InMemoryFileSystem fs = Guest("/.*  system_u:object_r:default_t:s0\n" + line);
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => SelinuxPolicy.TryLoad(fs));
        Assert.Contains("file_contexts:2", ex.Message, StringComparison.Ordinal);
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnsupportedRegex_ThrowsNotSupportedNamingTheLine()
    {
        using InMemoryFileSystem fs = Guest("/.*  system_u:object_r:default_t:s0\n/x/a++  system_u:object_r:x_t:s0\n");
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        NotSupportedException ex = Assert.Throws<NotSupportedException>(policy.Validate);
        Assert.Contains("file_contexts:2", ex.Message, StringComparison.Ordinal);
    }
}
