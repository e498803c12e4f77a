using DiskImage.Customization;
using DiskImage.FileSystems;
using DiskImage.FileSystems.InMemory;
using static DiskImage.Tests.Customization.GuestFixture;

namespace DiskImage.Tests.Customization;

/// <summary>Bad input is refused before the first write: the error names the operation and the file system is unchanged.</summary>
public sealed class CustomizerValidationTests
{
    public static TheoryData<string, string[], string> BadScripts => new()
    {
        { "missing file for truncate", ["--write", "/opt/ok:1", "--truncate", "/etc/nope"], "--truncate /etc/nope" },
        { "missing parent", ["--mkdir", "/opt/a", "--write", "/opt/b/c:1"], "--write /opt/b/c:1" },
        { "ssh-inject unknown user", ["--write", "/opt/ok:1", "--ssh-inject", "bob:string:ssh-ed25519 AAAA"], "--ssh-inject bob:string:ssh-ed25519 AAAA" },
        { "password unknown user", ["--write", "/opt/ok:1", "--password", "bob:password:x"], "--password bob:password:x" },
        { "edit binary", ["--write", "/opt/ok:1", "--edit", "/opt/bin:s/a/b/"], "--edit /opt/bin:s/a/b/" },
        { "symlink escape", ["--write", "/opt/ok:1", "--write", "/opt/escape/x:1"], "--write /opt/escape/x:1" },
        { "dotdot escape", ["--write", "/opt/ok:1", "--write", "/../etc/x:1"], "--write /../etc/x:1" },
        { "missing host file", ["--write", "/opt/ok:1", "--upload", "/nonexistent/host/file:/opt"], "--upload /nonexistent/host/file:/opt" },
        { "write over directory", ["--write", "/opt/ok:1", "--write", "/etc:1"], "--write /etc:1" },
        { "copy-in into missing dir", ["--write", "/opt/ok:1", "--copy-in", "/etc/hostname:/nope"], "--copy-in /etc/hostname:/nope" },
        { "uses a file a previous op deleted", ["--delete", "/etc/issue", "--edit", "/etc/issue:s/a/b/"], "--edit /etc/issue:s/a/b/" },
    };

    [Theory]
    [MemberData(nameof(BadScripts))]
    public void Apply_BadOperation_ThrowsNamingItAndChangesNothing(string why, string[] args, string operation)
    {
        using InMemoryFileSystem fs = Create();
        WriteBytes(fs, "/opt/bin", [0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]);
        fs.CreateSymbolicLink("/opt/escape", "../../../../tmp");
        string before = Snapshot(fs);
        CustomizationException e = Assert.Throws<CustomizationException>(() => Customizer.Apply(fs, CustomizeScript.Parse(args)));
        Assert.True(e.Message.StartsWith(operation + ":", StringComparison.Ordinal), $"{why}: {e.Message}");
        Assert.Equal(operation, e.Operation);
        Assert.Equal(before, Snapshot(fs));
    }

    [Theory]
    [InlineData("root:x:0:0:root:/root\n", "/etc/passwd line 1 is malformed")]
    [InlineData("root:x:zero:0:root:/root:/bin/sh\n", "/etc/passwd line 1 is malformed")]
    public void SshInject_MalformedPasswd_Refused(string passwd, string message)
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/etc/passwd", passwd);
        string before = Snapshot(fs);
        CustomizationException e = Assert.Throws<CustomizationException>(() => Customizer.Apply(fs, CustomizeScript.Parse(["--mkdir", "/opt/x", "--ssh-inject", "root:string:k"])));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(fs));
    }

    [Fact]
    public void Password_MalformedShadowLine_Refused()
    {
        using InMemoryFileSystem fs = Create();
        Write(fs, "/etc/shadow", "root:$6$x$y:19000:0:99999:7:::\nbroken line\n");
        string before = Snapshot(fs);
        CustomizationException e = Assert.Throws<CustomizationException>(() => Customizer.Apply(fs, CustomizeScript.Parse(["--mkdir", "/opt/x", "--root-password", "password:x"])));
        Assert.Contains("/etc/shadow line 2 is malformed", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(fs));
    }

    [Theory]
    [InlineData("--chmod", "rwx:/etc/x")]
    [InlineData("--chmod", "09:/etc/x")]
    [InlineData("--chown", "root.root:/etc/x")]
    [InlineData("--edit", "/etc/x:y/a/b/")]
    [InlineData("--edit", "/etc/x:s/a/b/q")]
    [InlineData("--password", "root:sha512:x")]
    [InlineData("--ssh-inject", "root:key:abc")]
    [InlineData("--link", "/a")]
    [InlineData("--write", "nocolon")]
    [InlineData("--append-line", "/etc/x:a\nb")]
    [InlineData("--timezone", "../../etc/passwd")]
    [InlineData("--frobnicate", "x")]
    public void Parse_MalformedArgument_Throws(string option, string argument)
    {
        CustomizationException e = Assert.Throws<CustomizationException>(() => CustomizeScript.Parse([option, argument]));
        Assert.Contains(option, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_ReadOnlyFileSystem_NotSupported()
    {
        using InMemoryFileSystem fs = Create();
        var ro = new ReadOnlyView(fs);
        Assert.Throws<NotSupportedException>(() => Customizer.Apply(ro, CustomizeScript.Parse(["--mkdir", "/x"])));
    }

    [Fact]
    public void Apply_EscapingLinkInsideTheFileSystem_IsFollowedWhenItStaysInside()
    {
        using InMemoryFileSystem fs = Create();
        fs.CreateSymbolicLink("/opt/inside", "../etc");
        Customizer.Apply(fs, CustomizeScript.Parse(["--write", "/opt/inside/new:1"]), new CustomizeOptions { RefreshRandomSeedAndMachineId = false });
        Assert.Equal("1", Read(fs, "/etc/new"));
    }

    private sealed class ReadOnlyView(IFileSystem inner) : ReadOnlyFileSystemView("The view is read-only.")
    {
        public override UnixFileInfo GetEntry(string path) => inner.GetEntry(path);

        public override bool Exists(string path) => inner.Exists(path);

        public override IEnumerable<UnixFileInfo> EnumerateDirectory(string path) => inner.EnumerateDirectory(path);

        protected override Stream OpenRead(string path) => inner.OpenFile(path, FileMode.Open, FileAccess.Read);

        public override IReadOnlyDictionary<string, byte[]> GetXattrs(string path) => inner.GetXattrs(path);
    }
}
