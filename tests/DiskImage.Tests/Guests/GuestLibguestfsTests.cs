using System.Runtime.Versioning;
using System.Xml.Linq;
using DiskImage.Guests;
using DiskImage.Tests.Cli;
using DiskImage.Tests.Oracles;

namespace DiskImage.Tests.Guests;

/// <summary>
/// The guest fixture judged by libguestfs itself (guestfs-tools 1.48 on Debian 12): virt-inspector's root,
/// distro, versions, product name, hostname, arch and mount points, and virt-get-kernel's files. Each tool boots
/// an appliance under TCG here (5 to 11 minutes on a loaded 2-core box), so these run only with
/// DISKIMAGE_LIBGUESTFS=1.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Libguestfs")]
public sealed class GuestLibguestfsTests : IClassFixture<GuestDiskFixture>
{
    private readonly GuestDiskFixture _disk;

    public GuestLibguestfsTests(GuestDiskFixture disk) => _disk = disk;

    internal static void RequireLibguestfs(string tool)
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("DISKIMAGE_LIBGUESTFS") is "1", "libguestfs oracles boot an appliance (minutes under TCG): set DISKIMAGE_LIBGUESTFS=1 to run them.");
        Oracle.Require(tool);
    }

    private static ToolResult RunLibguestfs(string tool, params string[] args) =>
        Oracle.Run("env", ["LIBGUESTFS_BACKEND=direct", tool, .. args], TimeSpan.FromMinutes(30));

    [SkippableFact]
    public void Inspect_SameAsVirtInspector()
    {
        RequireLibguestfs("virt-inspector");
        AssertSameAsVirtInspector(_disk.Require());
    }

    /// <summary>Runs virt-inspector on <paramref name="image"/> (raw) and asserts that our inspection reports the same facts and mounts.</summary>
    internal static void AssertSameAsVirtInspector(string image)
    {
        ToolResult r = RunLibguestfs("virt-inspector", "--format=raw", "-a", image);
        Assert.True(r.ExitCode == 0, r.ToString());
        XElement theirs = XDocument.Parse(r.StandardOutput).Root!.Element("operatingsystem")!;

        using Guest guest = Guest.Open(image);
        GuestOperatingSystem os = Assert.Single(guest.Inspect());
        Assert.Equal(theirs.Element("root")!.Value, os.Root);
        Assert.Equal(theirs.Element("name")!.Value, os.Type);
        Assert.Equal(theirs.Element("arch")!.Value, os.Architecture);
        Assert.Equal(theirs.Element("distro")!.Value, os.Distro);
        Assert.Equal(theirs.Element("product_name")!.Value, os.ProductName);
        Assert.Equal(theirs.Element("major_version")!.Value, os.MajorVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(theirs.Element("minor_version")!.Value, os.MinorVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(theirs.Element("hostname")!.Value, os.Hostname);
        Assert.Equal(theirs.Element("package_format")!.Value, os.PackageFormat);
        Assert.Equal(theirs.Element("package_management")!.Value, os.PackageManagement);
        var theirMounts = theirs.Element("mountpoints")!.Elements("mountpoint").Select(m => $"{m.Attribute("dev")!.Value}:{m.Value}").Order(StringComparer.Ordinal);
        Assert.Equal(theirMounts, os.Mounts.Select(m => m.ToString()).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void GetKernel_SameFilesAsVirtGetKernel()
    {
        RequireLibguestfs("virt-get-kernel");
        string image = _disk.Require();
        using var tmp = new TempDirectory();
        string theirs = tmp.File("theirs"), ours = tmp.File("ours");
        Directory.CreateDirectory(theirs);
        Directory.CreateDirectory(ours);
        ToolResult r = RunLibguestfs("virt-get-kernel", "--format=raw", "-a", image, "-o", theirs);
        Assert.True(r.ExitCode == 0, r.ToString());
        CliResult o = CliHarness.RunOk("get-kernel", image, "-o", ours);
        Assert.Equal(r.StandardOutput.Replace(theirs, ours, StringComparison.Ordinal), o.StandardOutput);
        string[] names = Directory.GetFiles(theirs).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        Assert.Equal(names, Directory.GetFiles(ours).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        foreach (string name in names)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(theirs, name)), File.ReadAllBytes(Path.Combine(ours, name)));
        }
    }
}
