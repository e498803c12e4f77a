using System.Text;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using DiskImage.Security;

namespace DiskImage.Tests.Security;

public sealed class SelinuxLabelerTests
{
    private const string Contexts = """
        /.*                          system_u:object_r:default_t:s0
        /usr(/.*)?                   system_u:object_r:usr_t:s0
        /usr/lib(/.*)?               system_u:object_r:lib_t:s0
        /etc(/.*)?                   system_u:object_r:etc_t:s0
        /etc/localtime         -l    system_u:object_r:locale_t:s0
        /run(/.*)?                   system_u:object_r:var_run_t:s0
        /tmp/nolabel                 <<none>>
        """;

    private static InMemoryFileSystem Guest()
    {
        var fs = new InMemoryFileSystem();
        SelinuxPolicyTests.Write(fs, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n");
        SelinuxPolicyTests.Write(fs, "/etc/selinux/targeted/contexts/files/file_contexts", Contexts + "\n");
        SelinuxPolicyTests.MakeDirectories(fs, "/usr/lib/x86_64-linux-gnu");
        SelinuxPolicyTests.MakeDirectories(fs, "/var");
        SelinuxPolicyTests.MakeDirectories(fs, "/run");
        SelinuxPolicyTests.MakeDirectories(fs, "/tmp");
        fs.CreateSymbolicLink("/lib", "usr/lib");
        fs.CreateSymbolicLink("/var/run", "../run");
        return fs;
    }

    private static string? Xattr(IFileSystem fs, string path) =>
        fs.GetXattrs(path).TryGetValue(SelinuxLabeler.XattrName, out byte[]? v) ? Encoding.ASCII.GetString(v) : null;

    [Fact]
    public void Label_NewEntries_WritesContextWithNulThroughResolvedDirectories()
    {
        using InMemoryFileSystem fs = Guest();
        SelinuxPolicyTests.Write(fs, "/lib/x86_64-linux-gnu/libdemo.so", "x");
        SelinuxPolicyTests.Write(fs, "/var/run/demo.pid", "1");
        fs.CreateSymbolicLink("/etc/localtime", "/usr/share/zoneinfo/UTC");
        SelinuxPolicyTests.Write(fs, "/tmp/nolabel", "x");
        SelinuxPolicyTests.Write(fs, "/tmp/other", "x");

        int written = SelinuxLabeler.Label(fs, ["/lib/x86_64-linux-gnu/libdemo.so", "/var/run/demo.pid", "/etc/localtime", "/tmp/nolabel"]);

        Assert.Equal(3, written);
        Assert.Equal("system_u:object_r:lib_t:s0\0", Xattr(fs, "/usr/lib/x86_64-linux-gnu/libdemo.so"));
        Assert.Equal("system_u:object_r:var_run_t:s0\0", Xattr(fs, "/run/demo.pid"));
        Assert.Equal("system_u:object_r:locale_t:s0\0", Xattr(fs, "/etc/localtime")); // the link itself, as a link
        Assert.Null(Xattr(fs, "/tmp/nolabel")); // <<none>>: left alone
        Assert.Null(Xattr(fs, "/tmp/other")); // not asked for
        Assert.Null(Xattr(fs, "/usr/lib/x86_64-linux-gnu"));
    }

    [Fact]
    public void Label_MissingPath_WritesNothing()
    {
        using InMemoryFileSystem fs = Guest();
        SelinuxPolicyTests.Write(fs, "/etc/a", "x");
        Assert.Throws<FileNotFoundException>(() => SelinuxLabeler.Label(fs, ["/etc/a", "/etc/missing"]));
        Assert.Null(Xattr(fs, "/etc/a"));
    }

    [Fact]
    public void LabelTree_WholeTree_LabelsEveryEntryOnce()
    {
        using InMemoryFileSystem fs = Guest();
        SelinuxPolicy policy = SelinuxPolicy.TryLoad(fs)!;
        int written = SelinuxLabeler.LabelTree(fs, policy);
        Assert.Equal("system_u:object_r:default_t:s0\0", Xattr(fs, "/"));
        Assert.Equal("system_u:object_r:default_t:s0\0", Xattr(fs, "/lib")); // the link itself: only "/.*" matches "/lib"
        Assert.Equal("system_u:object_r:etc_t:s0\0", Xattr(fs, "/etc/selinux/targeted/contexts/files/file_contexts"));
        Assert.True(written >= 12);
        Assert.Equal(0, SelinuxLabeler.LabelTree(fs, policy));
    }

    [Theory]
    [InlineData("/lib/x86_64-linux-gnu/libc.so", "/usr/lib/x86_64-linux-gnu/libc.so")]
    [InlineData("/var/run/x", "/run/x")]
    [InlineData("/var/run", "/var/run")]
    [InlineData("/usr/./lib/../lib/x", "/usr/lib/x")]
    [InlineData("/lib/..", "/usr")]
    [InlineData("/", "/")]
    public void ResolveDirectories_FollowsLinksInDirectoriesOnly(string path, string expected)
    {
        using InMemoryFileSystem fs = Guest();
        Assert.Equal(expected, SelinuxLabeler.ResolveDirectories(fs, path));
    }
}
