using System.Runtime.Versioning;

namespace DiskImage.Tests.Guests;

/// <summary>
/// The lvm2-made TripleO-like disk (<see cref="GuestLvmToolsFixture"/>) inspected by virt-inspector itself: same
/// root, distro, versions, product name, hostname, arch, package format and mount points. virt-inspector boots an
/// appliance under TCG (minutes), so this runs only with DISKIMAGE_LIBGUESTFS=1.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Libguestfs")]
public sealed class GuestLvmToolsLibguestfsTests : IClassFixture<GuestLvmToolsFixture>
{
    private readonly GuestLvmToolsFixture _disk;

    public GuestLvmToolsLibguestfsTests(GuestLvmToolsFixture disk) => _disk = disk;

    [SkippableFact]
    public void Inspect_LvmToolsLayout_SameAsVirtInspector()
    {
        GuestLibguestfsTests.RequireLibguestfs("virt-inspector");
        GuestLibguestfsTests.AssertSameAsVirtInspector(_disk.Require());
    }
}
