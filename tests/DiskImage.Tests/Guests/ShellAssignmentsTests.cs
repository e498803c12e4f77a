using DiskImage.Guests;

namespace DiskImage.Tests.Guests;

public class ShellAssignmentsTests
{
    [Fact]
    public void Parse_QuotesEscapesCommentsAndLastAssignment_AsAShellSeesThem()
    {
        const string text = """
            # a comment
            NAME="Rocky Linux"
            ID=rocky
            ID_LIKE='rhel centos fedora'
            PRETTY_NAME="Say \"hi\" \\ \$HOME"
            SINGLE='no \escapes'
            export HOSTNAME=guest.example
            VERSION_ID="8.9"

            VERSION_ID="9.3"
            =novalue
            """;
        Dictionary<string, string> values = ShellAssignments.Parse(text);
        Assert.Equal("Rocky Linux", values["NAME"]);
        Assert.Equal("rocky", values["ID"]);
        Assert.Equal("rhel centos fedora", values["ID_LIKE"]);
        Assert.Equal("Say \"hi\" \\ $HOME", values["PRETTY_NAME"]);
        Assert.Equal("no \\escapes", values["SINGLE"]);
        Assert.Equal("guest.example", values["HOSTNAME"]);
        Assert.Equal("9.3", values["VERSION_ID"]);
        Assert.Equal(7, values.Count);
    }

    [Fact]
    public void CustomizeAndSysprep_ReadTheSameGuestIdentity()
    {
        const string text = "ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n";
        var os = DiskImage.Customization.GuestOs.Parse(text);
        Assert.Equal("almalinux", os.Id);
        Assert.True(os.IsRedHatFamily);
        Assert.Equal(9, os.MajorVersion);

        var fs = new DiskImage.FileSystems.InMemory.InMemoryFileSystem();
        fs.CreateDirectory("/etc");
        using (Stream s = fs.OpenFile("/etc/os-release", FileMode.CreateNew, FileAccess.Write))
        {
            s.Write(System.Text.Encoding.UTF8.GetBytes(text));
        }

        var guest = DiskImage.Sysprep.SysprepGuest.Detect(fs);
        Assert.Equal("almalinux", guest.Id);
        Assert.Equal(["rhel", "centos", "fedora"], guest.IdLike);
        Assert.Equal("9.4", guest.VersionId);
    }
}
